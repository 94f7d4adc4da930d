#!/usr/bin/env bash
# run-tests.sh: the test command of README.md. Installs what is missing,
# builds Release in build/ and runs every Criterion suite through ctest.
#   tools/run-tests.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
shift || true
"$top/tools/install-deps.sh" --test
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBN_TESTS=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j1
