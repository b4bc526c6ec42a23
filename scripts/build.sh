#!/usr/bin/env bash
# Configures (once) and builds one build tree. Usage: build.sh release|asan DIR [targets...]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=$1; dir=$2; shift 2
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
case "$kind" in
  release) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  # One clang tree for the unit tests under ASan+UBSan and the libFuzzer targets.
  asan)    args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHODOS_SANITIZE=ON -DHODOS_FUZZ=ON
                 -DHODOS_UNIT_ONLY=ON -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14) ;;
  *) echo "build.sh: unknown kind $kind (release|asan)"; exit 2 ;;
esac
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "${args[@]}" >/dev/null
fi
cmake --build "$dir" -j "${JOBS:-$(nproc)}" ${1:+--target "$@"}
