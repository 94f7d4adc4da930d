#!/bin/sh
# run-fuzz.sh: builds the libFuzzer targets and runs one, several or all of
# them for a time budget.
#
#   tests/fuzz/run-fuzz.sh --all SECONDS BUILD_DIR      every target; SECONDS split by share
#   tests/fuzz/run-fuzz.sh TARGET[,TARGET] SECONDS BUILD_DIR   these, SECONDS each
#   tests/fuzz/run-fuzz.sh --list BUILD_DIR             the targets, their max_len and share
#
# One cmake build (clang, -DBN_FUZZ=ON, BN_TESTS=OFF: no Criterion needed)
# makes every target in BUILD_DIR. The targets and their shares come from
# tests/fuzz/CMakeLists.txt (one bn_fuzz_target line each), which writes
# BUILD_DIR/tests/fuzz/targets.txt; adding a target needs nothing here.
#
# Each target runs one libFuzzer process (single-threaded) with a fresh
# corpus in BUILD_DIR/fuzz-run/TARGET/corpus, seeded read-only from
# tests/fuzz/corpus/TARGET/ (the committed seeds are never modified), the
# dictionary tests/fuzz/TARGET.dict when there is one, and its scratch files
# in BUILD_DIR/fuzz-run/TARGET/scratch. A crash, leak, timeout (-timeout,
# seconds per input) or out-of-memory (-rss_limit_mb, which also limits one
# malloc) saves its input in BUILD_DIR/fuzz-artifacts/TARGET/ and makes the
# script exit 1 after the remaining targets ran. It prints each target's
# execution count. Environment: BN_FUZZ_BUILD_JOBS (build jobs, 2),
# BN_FUZZ_ARGS (more libFuzzer flags, e.g. -seed=1).
set -eu

usage() {
    echo "usage: tests/fuzz/run-fuzz.sh --all|TARGET[,TARGET...] SECONDS BUILD_DIR" >&2
    echo "       tests/fuzz/run-fuzz.sh --list BUILD_DIR" >&2
    exit 2
}

src=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${BN_FUZZ_BUILD_JOBS:-2}

if [ $# -eq 2 ] && [ "$1" = "--list" ]; then
    which=--list
    seconds=0
    build=$2
elif [ $# -eq 3 ]; then
    which=$1
    seconds=$2
    build=$3
else
    usage
fi
case $seconds in '' | *[!0-9]*) usage ;; esac
mkdir -p "$build"
build=$(cd "$build" && pwd)

# ---- build every target (one configure, one build) ----
if ! cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DBN_FUZZ=ON -DBN_TESTS=OFF -DBN_OPENMP=OFF >"$build/fuzz-cmake.log" 2>&1; then
    cat "$build/fuzz-cmake.log" >&2
    echo "run-fuzz.sh: cmake configure failed" >&2
    exit 1
fi
if ! cmake --build "$build" --target bn_fuzz_all -j"$jobs" >"$build/fuzz-build.log" 2>&1; then
    tail -n 40 "$build/fuzz-build.log" >&2
    echo "run-fuzz.sh: build failed (log: $build/fuzz-build.log)" >&2
    exit 1
fi
manifest="$build/tests/fuzz/targets.txt"
all_targets=$(grep -v '^#' "$manifest" | awk '{print $1}')

if [ "$which" = "--list" ]; then
    grep -v '^#' "$manifest"
    exit 0
fi

# ---- which targets, and how long each ----
if [ "$which" = "--all" ]; then
    targets=$all_targets
    total_share=$(grep -v '^#' "$manifest" | awk '{s += $3} END {print s}')
else
    targets=$(echo "$which" | tr ',' ' ')
    for t in $targets; do
        echo "$all_targets" | grep -qx "$t" || {
            echo "run-fuzz.sh: unknown target '$t' (known: $(echo $all_targets))" >&2
            exit 2
        }
    done
fi

failed=""
summary=""
for t in $targets; do
    line=$(grep "^$t " "$manifest")
    max_len=$(echo "$line" | awk '{print $2}')
    share=$(echo "$line" | awk '{print $3}')
    if [ "$which" = "--all" ]; then
        secs=$((seconds * share / total_share))
        [ "$secs" -ge 5 ] || secs=5
    else
        secs=$seconds
    fi
    run="$build/fuzz-run/$t"
    artifacts="$build/fuzz-artifacts/$t"
    rm -rf "$run"
    mkdir -p "$run/corpus" "$run/scratch" "$artifacts"
    seeds=""
    [ -d "$src/tests/fuzz/corpus/$t" ] && seeds="$src/tests/fuzz/corpus/$t"
    dict=""
    [ -f "$src/tests/fuzz/$t.dict" ] && dict="-dict=$src/tests/fuzz/$t.dict"
    log="$build/fuzz-$t.log"
    status=0
    start=$(date +%s)
    # shellcheck disable=SC2086 # $dict, $seeds and BN_FUZZ_ARGS are word lists
    BN_FUZZ_SCRATCH="$run/scratch" "$build/tests/fuzz/fuzz_$t" \
        -max_total_time="$secs" -max_len="$max_len" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" $dict ${BN_FUZZ_ARGS:-} \
        "$run/corpus" $seeds >"$log" 2>&1 || status=$?
    took=$(($(date +%s) - start))
    rm -rf "$run/scratch"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    corpus=$(find "$run/corpus" -type f | wc -l)
    if [ "$status" -ne 0 ]; then
        tail -n 60 "$log" >&2
        echo "fuzz_$t: FAILED after ${execs:-?} executions (exit $status); input in $artifacts/, log $log" >&2
        failed="$failed $t"
        result="FAILED"
    else
        result="ok"
    fi
    msg=$(printf 'fuzz_%-16s %10s executions in %4ss (budget %ss), %s new corpus inputs: %s' \
        "$t" "${execs:-?}" "$took" "$secs" "$corpus" "$result")
    echo "$msg"
    summary="$summary$msg
"
done

if [ -n "$failed" ]; then
    printf '%s' "$summary" >&2
    echo "run-fuzz.sh: crashes, leaks or timeouts in:$failed" >&2
    exit 1
fi
echo "run-fuzz.sh: every target ran without a crash"
