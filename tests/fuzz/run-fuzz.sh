#!/bin/sh
# run-fuzz.sh SECONDS BUILD_DIR: builds fuzz_gguf with clang in BUILD_DIR and
# fuzzes the GGUF reader for SECONDS seconds, starting from a scratch copy of
# tests/fuzz/corpus/ (the committed seeds are never modified). Prints the
# number of executions; exits non-zero if the build fails or the fuzzer finds
# a crash, leak or timeout (its input is saved in BUILD_DIR/fuzz-artifacts/).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: tests/fuzz/run-fuzz.sh SECONDS BUILD_DIR" >&2
    exit 2
fi
seconds=$1
build=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
jobs=${BN_FUZZ_BUILD_JOBS:-2}

fuzzer="$build/tests/fuzz/fuzz_gguf"
if cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DBN_FUZZ=ON -DBN_TESTS=ON -DBN_OPENMP=OFF >"$build.cmake.log" 2>&1; then
    cmake --build "$build" --target fuzz_gguf -j"$jobs" >/dev/null
else
    # The tree's configure needs Criterion (BN_TESTS); the fuzzer does not.
    echo "run-fuzz.sh: cmake configure failed (see $build.cmake.log); building with clang directly" >&2
    mkdir -p "$build/tests/fuzz"
    clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -I"$src" \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "$src/tests/fuzz/fuzz_gguf.c" "$src/loader/gguf.c" "$src/loader/tensor_type.c" \
        "$src/runtime/error.c" -o "$fuzzer"
fi

scratch="$build/fuzz-corpus-run"
artifacts="$build/fuzz-artifacts"
rm -rf "$scratch"
mkdir -p "$scratch" "$artifacts"
cp "$src"/tests/fuzz/corpus/* "$scratch"/

log="$build/fuzz-gguf.log"
status=0
"$fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$scratch" >"$log" 2>&1 || status=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
corpus=$(find "$scratch" -type f | wc -l)
if [ "$status" -ne 0 ]; then
    tail -n 60 "$log" >&2
    echo "fuzz_gguf: FAILED after ${execs:-?} executions (exit $status); artifacts in $artifacts" >&2
    exit 1
fi
echo "fuzz_gguf: ${execs:-?} executions in ${seconds}s, 0 crashes, corpus $corpus inputs"
