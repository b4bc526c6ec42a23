# eBPF programs: bpf/<name>.bpf.c -> <build>/gen/bpf/<name>.bpf.o -> <build>/gen/bpf/<name>.skel.h
# (libbpf CO-RE skeleton). vmlinux.h is dumped from the build machine's kernel BTF; CO-RE
# relocations make the objects load on other kernels with BTF. Nothing generated is committed.
#
# Defines the target hodos_bpf_skeletons and HODOS_BPF_GEN_DIR (add it to include paths, then
# #include "bpf/<name>.skel.h").

find_program(BPFTOOL bpftool HINTS /usr/sbin /sbin REQUIRED)
find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)

set(HODOS_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
set(HODOS_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "Kernel BTF that vmlinux.h is dumped from")
if(NOT EXISTS ${HODOS_VMLINUX_BTF})
  message(FATAL_ERROR "bpf: ${HODOS_VMLINUX_BTF} is missing; the eBPF programs need a kernel "
                      "with BTF (CONFIG_DEBUG_INFO_BTF=y), or set HODOS_VMLINUX_BTF to a BTF file")
endif()

set(vmlinux_h ${HODOS_BPF_GEN_DIR}/vmlinux.h)
add_custom_command(
  OUTPUT ${vmlinux_h}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${HODOS_BPF_GEN_DIR}/bpf
  COMMAND ${BPFTOOL} btf dump file ${HODOS_VMLINUX_BTF} format c > ${vmlinux_h}.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${vmlinux_h}.tmp ${vmlinux_h}
  COMMENT "bpf: vmlinux.h from ${HODOS_VMLINUX_BTF}"
  VERBATIM)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(bpf_arch x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(bpf_arch arm64)
else()
  message(FATAL_ERROR "bpf: no eBPF target architecture for ${CMAKE_SYSTEM_PROCESSOR}")
endif()
set(bpf_cflags -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_${bpf_arch}
    -I${HODOS_BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf)
foreach(dir ${LIBBPF_INCLUDE_DIRS})
  list(APPEND bpf_cflags -I${dir})
endforeach()

file(GLOB HODOS_BPF_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bpf/*.bpf.c)
set(skeletons)
foreach(src ${HODOS_BPF_SOURCES})
  get_filename_component(name ${src} NAME)
  string(REGEX REPLACE "\\.bpf\\.c$" "" name ${name})
  set(obj ${HODOS_BPF_GEN_DIR}/bpf/${name}.bpf.o)
  set(skel ${HODOS_BPF_GEN_DIR}/bpf/${name}.skel.h)
  # `bpftool gen object` links the object and drops its DWARF (the skeleton embeds the object;
  # only BTF is needed at load time).
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} ${bpf_cflags} -MD -MF ${obj}.d -c ${src} -o ${obj}.full
    COMMAND ${BPFTOOL} gen object ${obj} ${obj}.full
    DEPENDS ${src} ${vmlinux_h}
    DEPFILE ${obj}.d
    COMMENT "bpf: ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "bpf: ${name}.skel.h"
    VERBATIM)
  list(APPEND skeletons ${skel})
endforeach()
add_custom_target(hodos_bpf_skeletons DEPENDS ${skeletons})
