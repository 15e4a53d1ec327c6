# Cross-compiling for Linux on aarch64 from a Debian/Ubuntu x86-64 host:
# the compiler from gcc-aarch64-linux-gnu, libraries and headers from the
# arm64 multiarch packages (libopenblas-dev:arm64), tests through
# qemu-aarch64 (qemu-user). scripts/cross-test.sh installs them all.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
# GCC by default; -DCMAKE_C_COMPILER=clang cross-compiles with clang instead.
if(NOT CMAKE_C_COMPILER)
  set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
endif()
set(CMAKE_C_COMPILER_TARGET aarch64-linux-gnu)
# find_library/find_path use the aarch64 multiarch folders
# (/usr/lib/aarch64-linux-gnu, /usr/include/aarch64-linux-gnu) instead of
# the host's x86-64 ones.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# OPENBLAS_NUM_THREADS=1: OpenBLAS's thread pool, spinning on emulated cores,
# hangs under qemu-user (at start-up or exit); on real hardware it does not.
# PANATTN_TEST_QUICK=1: the C tests skip their largest shapes, which take
# many minutes under emulation (native runs cover them).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -E OPENBLAS_NUM_THREADS=1
    -E PANATTN_TEST_QUICK=1)
