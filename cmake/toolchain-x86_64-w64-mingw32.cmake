# Cross-compiling for Windows x86-64 from Debian/Ubuntu with MinGW-w64
# (gcc-mingw-w64-x86-64). scripts/cross-test.sh uses it to check that the
# library and its C tests compile and link for Windows; it names the BLAS
# itself (-DPANATTN_OPENBLAS_LIBRARY, -DPANATTN_CBLAS_INCLUDE_DIR), as
# Debian ships no Windows OpenBLAS.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
