# library.cmake: the shared libbitnet, and the install tree (library,
# public headers, bitnet.pc, the CMake package, the tools, the bundled model).
#
# One set of objects: the static `bitnet` is compiled position-independent
# and the shared library is linked from those same objects, so nothing is
# compiled twice and both libraries hold the same code. Tools and tests keep
# linking the static library.
#
# Exported symbols: only the functions the public headers declare. The list
# is read from the headers at configure time into a linker version script
# (everything else is local), so the headers stay the one place that says
# what the API is: no export macro on every declaration, and a function added
# to bitnet.h is exported without touching this file. Internal bn_* helpers
# (bn_gguf_*, bn_act_*, ...) stay hidden, so applications cannot come to rely
# on them and the library's internal calls bind locally.
#
# Sonames: 0.x releases may change the ABI at every minor version, so the
# soname carries major.minor (libbitnet.so.0.1 -> libbitnet.so.0.1.0).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(BN_PUBLIC_HEADERS ${PROJECT_SOURCE_DIR}/runtime/bitnet.h
                      ${PROJECT_SOURCE_DIR}/runtime/bitnet_quant.h)
set_target_properties(bitnet PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME bitnet_static)
add_library(bitnet::bitnet_static ALIAS bitnet)

if(BN_SHARED)
  # Declarations start a line: "<type> [*]bn_name(" (comment lines start
  # with a space or '*', so they never match).
  set(bn_exports "")
  foreach(h ${BN_PUBLIC_HEADERS})
    file(STRINGS ${h} decls REGEX "^[A-Za-z_].*[ *](bn_[a-z0-9_]+)\\(")
    foreach(d ${decls})
      string(REGEX MATCH "[ *](bn_[a-z0-9_]+)\\(" m "${d}")
      list(APPEND bn_exports ${CMAKE_MATCH_1})
    endforeach()
  endforeach()
  list(REMOVE_DUPLICATES bn_exports)
  list(SORT bn_exports)
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${BN_PUBLIC_HEADERS})
  string(REPLACE ";" ";\n    " bn_export_lines "${bn_exports}")
  set(BN_EXPORT_MAP ${PROJECT_BINARY_DIR}/libbitnet.map)
  file(WRITE ${BN_EXPORT_MAP}.tmp "{\n  global:\n    ${bn_export_lines};\n  local:\n    *;\n};\n")
  configure_file(${BN_EXPORT_MAP}.tmp ${BN_EXPORT_MAP} COPYONLY)
  # The same list, one name a line, for the test that checks the exports.
  string(REPLACE ";" "\n" bn_export_list "${bn_exports}")
  file(WRITE ${PROJECT_BINARY_DIR}/libbitnet.exports "${bn_export_list}\n")

  add_library(bitnet_shared SHARED $<TARGET_OBJECTS:bitnet>)
  add_library(bitnet::bitnet ALIAS bitnet_shared)
  set_target_properties(bitnet_shared PROPERTIES
    OUTPUT_NAME bitnet EXPORT_NAME bitnet
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    LINK_DEPENDS ${BN_EXPORT_MAP})
  target_link_options(bitnet_shared PRIVATE "LINKER:--version-script=${BN_EXPORT_MAP}")
  # Every symbol resolved at link time; not under sanitizers, whose runtime
  # clang leaves to the executable.
  if(NOT BN_SANITIZE)
    target_link_options(bitnet_shared PRIVATE "LINKER:--no-undefined")
  endif()
  target_include_directories(bitnet_shared INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/runtime> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  if(MATH_LIBRARY)
    target_link_libraries(bitnet_shared PRIVATE ${MATH_LIBRARY})
  endif()
  target_link_libraries(bitnet_shared PRIVATE Threads::Threads)
  if(BN_OPENMP)
    target_link_libraries(bitnet_shared PRIVATE OpenMP::OpenMP_C)
  endif()
endif()

# ---- install ------------------------------------------------------------
set(BN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/bitnet)
set(bn_lib_targets bitnet)
if(BN_SHARED)
  list(APPEND bn_lib_targets bitnet_shared)
endif()
install(TARGETS ${bn_lib_targets} EXPORT bitnetTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(FILES ${BN_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT devel)
install(EXPORT bitnetTargets NAMESPACE bitnet:: DESTINATION ${BN_CMAKE_DIR} COMPONENT devel)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/bitnetConfig.cmake.in
  ${PROJECT_BINARY_DIR}/bitnetConfig.cmake INSTALL_DESTINATION ${BN_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bitnetConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bitnetConfig.cmake ${PROJECT_BINARY_DIR}/bitnetConfigVersion.cmake
  DESTINATION ${BN_CMAKE_DIR} COMPONENT devel)

# bitnet.pc: -lbitnet picks the shared library; --static adds what the
# static one needs (OpenMP, threads, libm). The prefix is found from the
# .pc file's own place (${pcfiledir}), so the tree can be installed with
# `cmake --install --prefix` anywhere, or moved.
file(RELATIVE_PATH BN_PC_UP "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
string(REGEX REPLACE "/$" "" BN_PC_UP "${BN_PC_UP}")
if(BN_OPENMP)
  set(BN_PC_OPENMP "${OpenMP_C_FLAGS}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/bitnet.pc.in ${PROJECT_BINARY_DIR}/bitnet.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/bitnet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
        COMPONENT devel)

# The tools (every bitnet-* program tools/ defines) and the bundled model,
# which bitnet-run finds from bin/ as ../share/bitnet/models.
if(BN_TOOLS)
  get_property(bn_tool_targets DIRECTORY ${PROJECT_SOURCE_DIR}/tools PROPERTY BUILDSYSTEM_TARGETS)
  list(FILTER bn_tool_targets INCLUDE REGEX "^bitnet-")
  install(TARGETS ${bn_tool_targets} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/models/tiny-bitnet-I2_S.gguf
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bitnet/models COMPONENT tools)

# The Python package (python/, built by scikit-build-core with
# install.components = ["python"]): the shared library as one plain file
# (wheels hold no symlinks; ctypes opens it by path) and the bundled model.
if(BN_SHARED)
  install(FILES $<TARGET_FILE:bitnet_shared> DESTINATION bitnet RENAME libbitnet.so
          COMPONENT python EXCLUDE_FROM_ALL)
  install(FILES ${PROJECT_SOURCE_DIR}/models/tiny-bitnet-I2_S.gguf DESTINATION bitnet/models
          COMPONENT python EXCLUDE_FROM_ALL)
endif()
