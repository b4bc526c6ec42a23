#!/usr/bin/env bash
# Every test: unit + end-to-end tests on the release build, the unit tests again under
# AddressSanitizer + UBSan (clang tree holding only unit tests and fuzzers), and a short fuzz smoke.
# Runs every stage even when one fails, then exits non-zero if any did.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
failed=()

stage() { echo; echo "=== $1 ==="; }

stage "release: unit and end-to-end tests (build/)"
(cd build && ctest -j "$JOBS" --output-on-failure --timeout 600) || failed+=("release tests")

stage "asan+ubsan: building unit tests and fuzzers (build-asan/)"
if scripts/build.sh asan build-asan; then
  stage "asan+ubsan: unit tests"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest -j "$JOBS" -L unit --output-on-failure --timeout 600) || failed+=("asan unit tests")
  stage "fuzz smoke (${FUZZ_SMOKE_SECONDS:-10}s per target)"
  FUZZ_SECONDS=${FUZZ_SMOKE_SECONDS:-10} scripts/fuzz.sh || failed+=("fuzz smoke")
else
  failed+=("asan build")
fi

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: FAILED: ${failed[*]}"
  exit 1
fi
echo "make test: all stages passed"
