#!/usr/bin/env bash
# A fuzzing campaign over every libFuzzer target in tests/fuzz: builds them
# (clang, AddressSanitizer + UndefinedBehaviorSanitizer, in $BUILD_DIR,
# default build-fuzz), then runs each in turn, niced, from a fresh copy of
# its seed corpus, and prints per target: executions, executions per second,
# coverage (libFuzzer's cov = edges, ft = features), the corpus it grew to,
# and crashes.
#
#   tests/fuzz/campaign.sh [-r RUNS] [SECONDS_PER_TARGET] [TARGET...]
#
#   SECONDS_PER_TARGET  how long each target runs (default 60)
#   -r RUNS             stop each target after RUNS executions instead
#                       (both given: whichever comes first)
#   TARGET...           only these (names as in tests/fuzz, e.g. hello_fuzz)
#
# Exits non-zero when any target crashed, leaked, timed out or broke an
# invariant (an abort in the target; UBSan reports count too). The inputs
# that did it are kept under $BUILD_DIR/fuzz-campaign/crashes/<target>/ and
# the command that reproduces each is printed. Everything else lives in a
# temporary work directory under $BUILD_DIR/fuzz-campaign that is removed at
# the end: a run changes nothing in the source tree, and two runs of the
# same command do the same thing.
#
# To keep what a long campaign found as seeds: FUZZ_KEEP_CORPUS=1 leaves the
# grown corpora in $BUILD_DIR/fuzz-campaign/corpus/<target>/ (merge a few
# small, new inputs into tests/fuzz/corpus by hand; regressions are named
# regress-*).
#
# Environment: BUILD_DIR, JOBS (build parallelism, default 2), NICE (default
# 19), FUZZ_ASAN_OPTIONS / FUZZ_UBSAN_OPTIONS (sanitizer options), and
# FUZZ_ARGS (extra libFuzzer flags, e.g. "-max_len=65536").
set -euo pipefail

usage() { sed -n '9,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

runs=""
while getopts "r:h" opt; do
  case $opt in
    r) runs=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
seconds=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
[[ -z $runs || $runs =~ ^[0-9]+$ ]] || usage

root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz_src=$root/tests/fuzz
build=${BUILD_DIR:-$root/build-fuzz}
[[ $build = /* ]] || build=$root/$build
jobs=${JOBS:-2}
nice_level=${NICE:-19}

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for src in "$fuzz_src"/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi
for t in "${targets[@]}"; do
  [[ -f $fuzz_src/$t.cc ]] || { echo "campaign: no target $t (tests/fuzz/$t.cc)" >&2; exit 2; }
done

command -v clang++ >/dev/null || { echo "campaign: needs clang++ (libFuzzer)" >&2; exit 2; }

echo "== building ${targets[*]} in $build (clang, ASan+UBSan)" >&2
if [[ ! -f $build/CMakeCache.txt ]] ||
   ! grep -q '^SYNCBLOCK_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
  CC=clang CXX=clang++ nice -n 10 cmake -S "$root" -B "$build" -G Ninja -DSYNCBLOCK_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
nice -n 10 cmake --build "$build" -j "$jobs" --target "${targets[@]}" >&2

state=$build/fuzz-campaign
crash_dir=$state/crashes
mkdir -p "$state"
work=$(mktemp -d "$state/run.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Fast sanitizer settings for throughput (a small quarantine, no allocation
# stacks, no malloc fill: 2.5x the executions); a reproducer is re-run with
# the defaults for the full report. halt_on_error makes a UBSan report a
# crash instead of a line in the log.
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-quarantine_size_mb=16:max_malloc_fill_size=0:malloc_context_size=0:detect_leaks=1}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

limit_args=(-max_total_time="$seconds")
[[ -n $runs ]] && limit_args+=(-runs="$runs")

failed=0
results=()
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/$t
  seeds=$fuzz_src/corpus/$t
  corpus=$work/corpus/$t
  artifacts=$work/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  if [[ -d $seeds ]]; then cp "$seeds"/* "$corpus"/; fi
  log=$work/$t.log
  echo "== $t: ${limit_args[*]} from $(find "$corpus" -type f | wc -l) seeds" >&2
  rc=0
  # shellcheck disable=SC2086
  nice -n "$nice_level" "$bin" "${limit_args[@]}" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} "$corpus" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  [[ -z $execs ]] && execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  found=$(find "$artifacts" -type f | wc -l)
  if [[ $found -gt 0 || $rc -ne 0 ]]; then
    failed=1
    mkdir -p "$crash_dir/$t"
    cp "$log" "$crash_dir/$t/$(date -u +%Y%m%dT%H%M%SZ).log"
    for a in "$artifacts"/*; do
      [[ -f $a ]] || continue
      cp "$a" "$crash_dir/$t/"
      echo "   reproduce: $bin $crash_dir/$t/$(basename "$a")" >&2
    done
    [[ $found -gt 0 ]] || found="exit $rc"
    grep -m3 -E 'ERROR|runtime error|SUMMARY' "$log" | sed 's/^/   /' >&2 || true
  fi
  if [[ -n ${FUZZ_KEEP_CORPUS:-} ]]; then
    rm -rf "$state/corpus/$t"
    mkdir -p "$state/corpus"
    cp -r "$corpus" "$state/corpus/$t"
  fi
  results+=("$(printf '%-22s %12s %9s %7s %7s %7s %10s %8s' "$t" "${execs:-?}" "${speed:-?}" \
    "${cov:-?}" "${ft:-?}" "$files" "$bytes" "$found")")
done

printf '\n%-22s %12s %9s %7s %7s %7s %10s %8s\n' target executions exec/s cov ft corpus bytes crashes
printf '%s\n' "${results[@]}"
if [[ $failed -ne 0 ]]; then
  echo "campaign: crashes found; inputs in $crash_dir" >&2
  exit 1
fi
