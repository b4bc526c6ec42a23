# Compiles the wire-format .proto files under src/otlp/proto (OTLP, and Prometheus remote write for
# the prometheusremotewrite exporter) with protoc and the gRPC plugin into their own static
# library, rebuilt only when a .proto changes.
set(OTLP_PROTO_ROOT ${CMAKE_SOURCE_DIR}/src/otlp/proto)
set(OTLP_PROTOS
  opentelemetry/proto/common/v1/common.proto
  opentelemetry/proto/resource/v1/resource.proto
  opentelemetry/proto/trace/v1/trace.proto
  opentelemetry/proto/collector/trace/v1/trace_service.proto
  prometheus/remote.proto)
set(OTLP_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
set(OTLP_GEN_SRC)
foreach(p ${OTLP_PROTOS})
  string(REGEX REPLACE "\\.proto$" "" base ${p})
  set(outs ${OTLP_GEN_DIR}/${base}.pb.cc ${OTLP_GEN_DIR}/${base}.pb.h)
  set(plugin_args)
  if(p MATCHES "_service\\.proto$")
    list(APPEND outs ${OTLP_GEN_DIR}/${base}.grpc.pb.cc ${OTLP_GEN_DIR}/${base}.grpc.pb.h)
    set(plugin_args --grpc_out=${OTLP_GEN_DIR} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
  endif()
  add_custom_command(
    OUTPUT ${outs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${OTLP_GEN_DIR}
    COMMAND protobuf::protoc -I ${OTLP_PROTO_ROOT} --cpp_out=${OTLP_GEN_DIR} ${plugin_args} ${p}
    DEPENDS ${OTLP_PROTO_ROOT}/${p}
    WORKING_DIRECTORY ${OTLP_PROTO_ROOT}
    COMMENT "protoc ${p}")
  list(APPEND OTLP_GEN_SRC ${outs})
endforeach()
add_library(hodos_otlp_proto STATIC ${OTLP_GEN_SRC})
# Generated code is not ours to warn about.
target_compile_options(hodos_otlp_proto PRIVATE -w)
target_include_directories(hodos_otlp_proto SYSTEM PUBLIC ${OTLP_GEN_DIR})
target_link_libraries(hodos_otlp_proto PUBLIC protobuf::libprotobuf PkgConfig::GRPCPP)
