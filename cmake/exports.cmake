# libpanattn exports its own API (pa_*, panattn_*) and nothing else, so a
# statically linked BLAS cannot clash with another copy in the process.
# Included by CMakeLists.txt after the panattn target.
if(APPLE)
  # An exported-symbols list (ld64 takes wildcards; the header has only pa_*).
  target_link_options(panattn PRIVATE
    "LINKER:-exported_symbols_list,${CMAKE_CURRENT_SOURCE_DIR}/cmake/exports-macos.txt")
elseif(WIN32)
  # PA_API's __declspec(dllexport) already limits the exports. The file is
  # panattn.dll, the name System.mapLibraryName gives, also with MinGW.
  set_target_properties(panattn PROPERTIES PREFIX "")
  if(MINGW)
    # _Thread_local needs libgcc's emulated TLS: link it in rather than
    # depend on libgcc_s_seh-1.dll.
    target_link_options(panattn PRIVATE -static-libgcc)
  endif()
elseif(UNIX)
  # --no-undefined: a symbol the static BLAS misses (say, from libgfortran)
  # fails the link instead of the load. Not in sanitizer builds, whose
  # runtime symbols a shared library leaves to the executable.
  target_link_options(panattn PRIVATE
    "LINKER:--version-script=${CMAKE_CURRENT_SOURCE_DIR}/cmake/exports.map")
  if(NOT PANATTN_SANITIZE)
    target_link_options(panattn PRIVATE "LINKER:--no-undefined")
  endif()
  set_property(TARGET panattn APPEND PROPERTY LINK_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/cmake/exports.map")
endif()
