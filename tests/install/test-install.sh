#!/bin/sh
# test-install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]: installs BUILD_DIR
# into a temporary prefix and builds examples/c against it, once through
# pkg-config and once through find_package(bitnet) (shared and static); all
# must generate the greedy text bitnet-run (installed too) generates. Prints
# what fails.
set -eu
build=$1
src=$2
extra=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name bitnet.pc)")/..
libdir=$(cd "$libdir" && pwd)
model=$prefix/share/bitnet/models/tiny-bitnet-I2_S.gguf
for f in "$prefix/include/bitnet.h" "$prefix/include/bitnet_quant.h" "$model" \
         "$libdir/libbitnet.a" "$libdir/cmake/bitnet/bitnetConfig.cmake" "$prefix/bin/bitnet-run"; do
  [ -e "$f" ] || { echo "missing after install: $f"; exit 1; }
done
# The soname chain libbitnet.so -> .so.0.1 -> .so.0.1.0.
soname=$(readelf -d "$libdir/libbitnet.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ -e "$libdir/$soname" ] || { echo "soname $soname is not installed"; exit 1; }

# Exports: exactly the functions the public headers declare.
nm -D --defined-only "$libdir/libbitnet.so" | awk '{print $3}' | sort > "$tmp/exports"
if ! cmp -s "$tmp/exports" "$build/libbitnet.exports"; then
  echo "libbitnet.so exports differ from the public headers:"
  diff "$build/libbitnet.exports" "$tmp/exports" | head -20
  exit 1
fi

prompt="Once upon a time"
want=$("$prefix/bin/bitnet-run" -p "$prompt" -n 16 --temp 0 -t 1 2>/dev/null)

# 1. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 $extra "$src/examples/c/generate.c" $(pkg-config --cflags --libs bitnet) -lm \
  -Wl,-rpath,"$libdir" -o "$tmp/generate-pc"
got=$("$tmp/generate-pc" "$model" "$prompt" 16 | head -n 1)
[ "$got" = "$want" ] || { echo "pkg-config build: '$got' != bitnet-run's '$want'"; exit 1; }
"$tmp/generate-pc" "$model" "$prompt" 1 | grep -q "^quant: gamma" || { echo "quant API output missing"; exit 1; }

# 2. find_package(bitnet)
cmake -S "$src/examples/c" -B "$tmp/build-fp" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" >/dev/null
cmake --build "$tmp/build-fp" >/dev/null
got=$("$tmp/build-fp/generate" "$model" "$prompt" 16 | head -n 1)
[ "$got" = "$want" ] || { echo "find_package build: '$got' != bitnet-run's '$want'"; exit 1; }
got=$("$tmp/build-fp/generate-static" "$model" "$prompt" 16 | head -n 1)
[ "$got" = "$want" ] || { echo "find_package static build: '$got' != '$want'"; exit 1; }
echo "install_consumer: pkg-config and find_package consumers match bitnet-run: $want"
