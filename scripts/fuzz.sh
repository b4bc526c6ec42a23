#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan tree) and runs every tests/fuzz/*_fuzz target
# for ${FUZZ_SECONDS:-60} seconds on a scratch copy of its in-tree corpus (the corpus in the tree
# stays read-only). Exits non-zero if any fuzzer fails; the crash input is kept in the work dir.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
dir=${ASAN_DIR:-build-asan}

targets=()
for src in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
scripts/build.sh asan "$dir" "${targets[@]}"

status=0
for target in "${targets[@]}"; do
  name=${target%_fuzz}
  work="$dir/fuzz/$name"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ -d "tests/fuzz/corpus/$name" ]; then cp -R "tests/fuzz/corpus/$name/." "$work/corpus/"; fi
  if "$dir/$target" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    echo "fuzz: $target ok (${seconds}s, ${runs:-?} runs)"
  else
    echo "fuzz: $target FAILED — log $work/log, crash input in $work/artifacts/" >&2
    tail -n 40 "$work/log" >&2
    echo "fuzz: add the crash input to tests/fuzz/corpus/$name/ once it is fixed" >&2
    status=1
  fi
done
exit $status
