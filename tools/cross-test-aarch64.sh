#!/usr/bin/env bash
# cross-test-aarch64.sh: cross-compiles bitnet for aarch64 (NEON kernels
# included) and runs the kernel test suites under qemu-aarch64.
#   tools/cross-test-aarch64.sh [BUILD_DIR]     (default: build-aarch64)
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (tools/install-deps.sh --test).
#
# Two passes:
#   1. qemu -cpu max: every table runs (ref, neon, neon-dotprod), and the
#      suites' other tests too;
#   2. qemu -cpu cortex-a57 (armv8.0, no dotprod): the select suite (its
#      default choice must now be "neon") and the *_with_neon* tests of the
#      others again, where "neon-dotprod" must be reported as skipped.
# The suites are the unchanged Criterion sources compiled against
# tools/cross-aarch64/criterion/criterion.h (why: see that file). Prints
# each suite's synthesis line and exits non-zero if any test failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-aarch64}
jobs=$(nproc)
[ "$jobs" -gt 2 ] || jobs=2
sysroot=/usr/aarch64-linux-gnu

for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-ar qemu-aarch64 cmake; do
  if ! command -v "$tool" >/dev/null; then
    echo "cross-test-aarch64: error: $tool not found (tools/install-deps.sh --test)" >&2
    exit 1
  fi
done

# The stand-in test runner, built for the target.
mkdir -p "$build/cross-criterion"
aarch64-linux-gnu-gcc -std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L \
  -I"$top/tools/cross-aarch64" -c "$top/tools/cross-aarch64/runner.c" \
  -o "$build/cross-criterion/runner.o"
rm -f "$build/cross-criterion/libbn_cross_criterion.a"
aarch64-linux-gnu-ar rcs "$build/cross-criterion/libbn_cross_criterion.a" \
  "$build/cross-criterion/runner.o"

cmake -S "$top" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$top/cmake/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DBN_TESTS=ON \
  -DCRITERION_LIBRARY="$build/cross-criterion/libbn_cross_criterion.a" \
  -DCRITERION_INCLUDE_DIR="$top/tools/cross-aarch64" >/dev/null

# Every suite registered in tests/kernels/CMakeLists.txt.
suites=$(sed -n 's/^[[:space:]]*bn_add_test(\([A-Za-z0-9_]*\).*/\1/p' \
  "$top/tests/kernels/CMakeLists.txt")
targets=()
for s in $suites; do targets+=("test_$s"); done
cmake --build "$build" -j"$jobs" --target bitnet "${targets[@]}"

status=0
run_pass() { # cpu, label, runner args...
  local cpu=$1 label=$2
  shift 2
  echo "---- qemu-aarch64 -cpu $cpu: $label"
  for s in $suites; do
    local t0 t1 out rc=0
    t0=$(date +%s)
    local args=("$@")
    [ "$s" != select ] || args=()
    out=$(qemu-aarch64 -cpu "$cpu" -L "$sysroot" "$build/tests/kernels/test_$s" ${args[@]+"${args[@]}"} 2>&1) || rc=$?
    t1=$(date +%s)
    # Failures and crashes in full; skips counted in the synthesis line.
    printf '%s\n' "$out" | grep -v '^\[SKIP\]' | grep -v '^\[====\]' || true
    local synth
    synth=$(printf '%s\n' "$out" | grep '^\[====\] Synthesis' || echo "[====] no synthesis line (runner died)")
    printf '%-16s %s (%ss)\n' "$s" "$synth" "$((t1 - t0))"
    if [ "$rc" -ne 0 ] || ! printf '%s\n' "$synth" | grep -q 'Failing: 0 '; then
      status=1
    fi
  done
}

start=$(date +%s)
run_pass max "every table (ref, neon, neon-dotprod)"
run_pass cortex-a57 "no dotprod: neon is the best table, neon-dotprod skipped" \
  '--filter=*_with_neon*'
echo "---- aarch64 kernel tests: $([ $status -eq 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start ))s"
exit $status
