#!/usr/bin/env bash
# Runs every benchmark on the release build and prints its figures (docs/BENCHMARKS.md records
# them with the machine). Sizes are chosen to finish in a few minutes; override with
#   BENCH_SECONDS       measured seconds per pipeline path (default 10)
#   BENCH_CLIENTS       pipeline client threads (default 4)
#   BENCH_STORE_SPANS   spans ingested by the store benchmark (default 1000000)
#   BUILD_DIR           build tree (default build)
#   BENCH_OVERHEAD_*    the agent overhead benchmark's knobs (see bench/overhead/run.mjs), e.g.
#                       BENCH_OVERHEAD_ROUNDS (default 3), BENCH_OVERHEAD_SECONDS (default 8),
#                       BENCH_OVERHEAD_SUITES (default "node,chain": which parts run)
#   HODOS_BENCH_REQUESTS  requests of the injection chain's counted run (default 1000000; 0 skips)
#   BENCH_UI_*          the web UI benchmark's knobs (see bench/ui/trace_render.mjs), e.g.
#                       BENCH_UI_SPANS (default 10000), BENCH_UI_RUNS (default 7)
# Runs every benchmark even when one fails, then exits non-zero if any did.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
failed=()

scripts/build.sh release "$BUILD_DIR" hodos bench_pipeline bench_store bench_syscall_filter \
  bench_overhead_loadgen || exit 1

echo "=== machine ==="
echo "nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "RAM: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); kernel: $(uname -r)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews wall-clock figures)"

echo
echo "=== pipeline: $BUILD_DIR/bench_pipeline ==="
"$BUILD_DIR/bench_pipeline" --seconds "${BENCH_SECONDS:-10}" --clients "${BENCH_CLIENTS:-4}" \
  --hodos "$BUILD_DIR/hodos" || failed+=("pipeline")

echo
echo "=== store: $BUILD_DIR/bench_store ==="
"$BUILD_DIR/bench_store" --spans "${BENCH_STORE_SPANS:-1000000}" || failed+=("store")

echo
echo "=== agent: $BUILD_DIR/bench_syscall_filter (needs root and BPF) ==="
if [ "$(id -u)" -eq 0 ]; then
  "$BUILD_DIR/bench_syscall_filter" || failed+=("agent")
else
  echo "skipped: the syscall-hook benchmark loads BPF programs and needs root"
fi

echo
echo "=== overhead: bench/overhead/run.mjs (none vs hodos agent vs OpenTelemetry SDK, then the" \
  "injection chain: 1M requests through traceparent injection; hodos needs root) ==="
# Without root it says so and compares none with the SDK only.
BUILD_DIR="$BUILD_DIR" node bench/overhead/run.mjs || failed+=("overhead")

echo
echo "=== web UI: bench/ui/trace_render.mjs (a 10,000-span trace page in chromium; goal < 1 s) ==="
BUILD_DIR="$BUILD_DIR" node bench/ui/trace_render.mjs || failed+=("ui")

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "make bench: FAILED: ${failed[*]}"
  exit 1
fi
echo "make bench: done"
