#!/usr/bin/env bash
# The C library on the platforms an x86-64 Debian/Ubuntu machine can only
# cross-build for, and with a second compiler. Every build uses -Werror.
#   aarch64  gcc-aarch64-linux-gnu against arm64 OpenBLAS (multiarch),
#            then the C tests under qemu-aarch64; the same with clang.
#   windows  the DLL and the C tests with MinGW-w64, linked against an
#            import library for OpenBLAS's DLL (Debian has no Windows
#            OpenBLAS; netlib's cblas.h declares the calls). Nothing runs:
#            there is no Windows here. The DLL's exports and imports are checked.
#   clang    the host build and its C tests with clang.
# Installs what it needs with apt-get (as root). Outputs in build/cross/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_cross_packages
out="$PANATTN_ROOT/build/cross"
rm -rf "$out"
mkdir -p "$out"
log="$out/cross-test.log"
echo "panattn cross: building for aarch64 and Windows, and with clang (log: $log)"

run() {
  "$@" >>"$log" 2>&1 || { tail -40 "$log"; die "cross-test failed: $* (log: $log)"; }
}

# Configures, builds and (unless the platform cannot run here) tests one
# build: build <name> <test|emulated|build-only> <cmake options...>. An
# emulated build runs the kernel, driver and entry-point tests (test_sdpa,
# test_rules, test_buffers, test_widen, test_decode); the robustness and
# thread tests, slow under qemu, run natively elsewhere.
build() {
  local name=$1 mode=$2
  shift 2
  echo "== $name" >>"$log"
  run cmake -S "$PANATTN_ROOT" -B "$out/$name" -DCMAKE_C_FLAGS=-Werror \
    -DPANATTN_PACK_DIR="$out/$name/pack" --log-level=WARNING "$@"
  run cmake --build "$out/$name" --parallel
  if [ "$mode" = test ] || [ "$mode" = emulated ]; then
    local only=()
    [ "$mode" = emulated ] && only=(-R '^(sdpa|rules|buffers|widen|decode)_')
    run ctest --test-dir "$out/$name" --output-on-failure --verbose "${only[@]}"
    # Per level: the ISA the test binary ran and its own count.
    local ctest_log="$out/$name/Testing/Temporary/LastTest.log"
    paste -d' ' \
      <(sed -nE 's/^panattn [^,]*, ISA ([a-z0-9]+) \(([^;]*);.*/\1 (\2):/p' "$ctest_log") \
      <(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$ctest_log") | sed "s/^/  $name /"
  fi
}

# The machine a packed Linux library is built for, as readelf names it.
expect_machine() {
  local lib=$1 machine=$2
  readelf -h "$lib" | grep -q "Machine: *$machine\$" || die "$lib is not built for $machine"
  echo "  $(basename "$(dirname "$lib")"): $(readelf -h "$lib" | sed -n 's/^ *Machine: *//p'), needs" \
    "$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"
}

# aarch64: GCC, then clang, each with the C tests under qemu.
toolchain="$PANATTN_ROOT/cmake/toolchain-aarch64-linux-gnu.cmake"
build aarch64-gcc emulated -DCMAKE_TOOLCHAIN_FILE="$toolchain"
expect_machine "$out/aarch64-gcc/pack/linux-aarch64/libpanattn.so" AArch64
build aarch64-clang emulated -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DCMAKE_C_COMPILER=clang
expect_machine "$out/aarch64-clang/pack/linux-aarch64/libpanattn.so" AArch64

# Windows: netlib's portable cblas.h (from Debian's libblas-dev package,
# unpacked here, not installed) and an import library naming the OpenBLAS
# DLL's functions that panattn calls.
win="$out/windows-deps"
mkdir -p "$win/deb" "$win/cblas" "$win/simde"
if ! (cd "$win/deb" && apt-get download libblas-dev) >>"$log" 2>&1; then
  run apt-get update -qq
  (cd "$win/deb" && run apt-get download libblas-dev)
fi
run dpkg-deb -x "$win"/deb/libblas-dev_*.deb "$win/deb/root"
cp "$win"/deb/root/usr/include/*/cblas-netlib.h "$win/cblas/cblas.h"
cp "$win"/deb/root/usr/include/*/cblas_mangling.h "$win/cblas/"
printf 'LIBRARY libopenblas.dll\nEXPORTS\n  cblas_sgemm\n  cblas_sgemv\n  openblas_get_config\n  openblas_get_num_threads\n  openblas_set_num_threads\n' \
  > "$win/openblas.def"
run x86_64-w64-mingw32-dlltool -d "$win/openblas.def" -l "$win/libopenblas.dll.a"
# SIMDe (for the emulated kernels in the tests) without the rest of the
# host's /usr/include, which would shadow MinGW's headers.
ln -sfn /usr/include/simde "$win/simde/simde"
build windows build-only -DCMAKE_TOOLCHAIN_FILE="$PANATTN_ROOT/cmake/toolchain-x86_64-w64-mingw32.cmake" \
  -DPANATTN_OPENBLAS_LIBRARY="$win/libopenblas.dll.a" -DPANATTN_CBLAS_INCLUDE_DIR="$win/cblas" \
  -DSIMDE_INCLUDE_DIR="$win/simde"
dll="$out/windows/pack/windows-x86_64/panattn.dll"
[ -f "$dll" ] && [ -f "$out/windows/test_sdpa.exe" ] || die "MinGW build produced no panattn.dll or test_sdpa.exe"
exports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' \
  | sed -n 's/^\s*\[ *[0-9]*\] //p' | sort | tr '\n' ' ')
api=$(grep -oE 'PA_API [^;(]*\b(pa_[a-z_]+) *\(' "$PANATTN_ROOT/native/include/panattn.h" \
  | sed -E 's/.*\b(pa_[a-z_]+) *\(/\1/' | sort | tr '\n' ' ')
[ "$exports" = "$api" ] || die "panattn.dll exports '$exports', the header declares '$api'"
imports=$(x86_64-w64-mingw32-objdump -p "$dll" | sed -n 's/^\s*DLL Name: //p' | sort | tr '\n' ' ')
[ "$imports" = "KERNEL32.dll libopenblas.dll msvcrt.dll " ] || die "panattn.dll imports $imports"
echo "  windows: panattn.dll and test_sdpa.exe linked; panattn.dll exports the header's $(wc -w <<<"$api") functions, imports $imports"

# clang on the host, C tests at every level.
build clang test -DCMAKE_C_COMPILER=clang
echo "panattn cross: all passed"
