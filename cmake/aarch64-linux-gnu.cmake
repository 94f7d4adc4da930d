# aarch64-linux-gnu.cmake: CMake toolchain file for cross-compiling bitnet to
# Linux aarch64 with Debian's gcc-aarch64-linux-gnu (libc6-dev-arm64-cross
# puts the target's libc under /usr/aarch64-linux-gnu).
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# The binaries run on an arm64 machine, or here under
# qemu-aarch64 -L /usr/aarch64-linux-gnu (tools/cross-test-aarch64.sh).
# The baseline is armv8-a: the NEON-dotprod kernel file alone gets
# -march=armv8.2-a+dotprod (kernels/CMakeLists.txt).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(BN_CROSS_PREFIX aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${BN_CROSS_PREFIX}-gcc)
set(CMAKE_CXX_COMPILER ${BN_CROSS_PREFIX}-g++)

# Look for programs on the host, for libraries and headers in the target's
# trees only: the cross libc, Debian's multiarch arm64 directory, and any
# extra root the caller names (e.g. an unpacked arm64 Criterion).
set(CMAKE_FIND_ROOT_PATH /usr/${BN_CROSS_PREFIX} ${BN_CROSS_EXTRA_ROOT})
set(CMAKE_LIBRARY_ARCHITECTURE ${BN_CROSS_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_C_FLAGS_INIT "-march=armv8-a")

# How to run target binaries (ctest, try_run) on this host.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/${BN_CROSS_PREFIX})
