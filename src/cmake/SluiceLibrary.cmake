# libsluice as a program embedding the gateway links it (docs/library.md):
#
#   <libdir>/libsluice.a                 every sluice_* static library of the
#                                        embedding API, merged into one archive
#   <includedir>/sluice/sluice.hpp       the one public header
#   <libdir>/cmake/sluice/               find_package(sluice) -> sluice::sluice
#   <libdir>/pkgconfig/sluice.pc         pkg-config --cflags --libs sluice
#
# Installed as the `library` component, with relative paths only, so
#   cmake --install <build> --component library --prefix <dir>
# puts a working package anywhere (the service's own files carry paths fixed
# at configure time and do not move that way).
#
# The dependencies (SQLite, mbedTLS, Paho, librdkafka, ...) are not copied:
# the package names them where this build found them, in link order, as the
# executable links them (shared libraries for the native build, static
# archives for the static and board presets).

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

# Flattens the link interface of `tgt` into `out_var`: what a static link of
# it needs, in order. The project's static libraries go to SLUICE_LIB_MERGE
# instead (their objects make libsluice.a). Each target's list is computed
# once and repeated wherever the target is used, so that after dropping all
# but the last copy of each item, every library still comes after all that
# use it (libpq before the OpenSSL it needs, even when Paho named OpenSSL
# first).
function(_sluice_flatten_links tgt out_var)
  get_property(done GLOBAL PROPERTY _SLUICE_FLAT_${tgt} SET)
  if(done)
    get_property(flat GLOBAL PROPERTY _SLUICE_FLAT_${tgt})
    set(${out_var} "${flat}" PARENT_SCOPE)
    return()
  endif()
  set(flat "")
  get_target_property(type ${tgt} TYPE)
  get_target_property(imported ${tgt} IMPORTED)
  if(imported)
    # OpenSSL::SSL and friends: the file itself, then what it needs.
    set(location "")
    foreach(prop IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_NOCONFIG IMPORTED_LOCATION)
      if(NOT location)
        get_target_property(location ${tgt} ${prop})
        if(NOT location)
          set(location "")
        endif()
      endif()
    endforeach()
    if(location)
      list(APPEND flat "${location}")
    endif()
  elseif(type STREQUAL "STATIC_LIBRARY")
    set_property(GLOBAL APPEND PROPERTY SLUICE_LIB_MERGE ${tgt})
  endif()
  get_target_property(links ${tgt} INTERFACE_LINK_LIBRARIES)
  if(links)
    foreach(item IN LISTS links)
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
      if(item STREQUAL "Threads::Threads")
        list(APPEND flat "-pthread")
      elseif(TARGET ${item})
        _sluice_flatten_links(${item} sub)
        list(APPEND flat ${sub})
      elseif(item MATCHES "^\\$<")
        message(FATAL_ERROR "libsluice: cannot flatten the link item ${item} of ${tgt} for the package's link "
                            "line; configure with -DSLUICE_BUILD_LIBRARY=OFF to build without the library")
      elseif(item)
        list(APPEND flat "${item}")
      endif()
    endforeach()
  endif()
  set_property(GLOBAL PROPERTY _SLUICE_FLAT_${tgt} "${flat}")
  set(${out_var} "${flat}" PARENT_SCOPE)
endfunction()

function(sluice_add_library)
  set_property(GLOBAL PROPERTY SLUICE_LIB_MERGE "")
  _sluice_flatten_links(sluice_embed links)
  get_property(merge GLOBAL PROPERTY SLUICE_LIB_MERGE)
  list(REMOVE_DUPLICATES merge)
  # A static link needs each library after everything that uses it: of the
  # repeated items, the last place counts.
  list(REVERSE links)
  list(REMOVE_DUPLICATES links)
  list(REVERSE links)

  set(objects "")
  foreach(t IN LISTS merge)
    list(APPEND objects $<TARGET_OBJECTS:${t}>)
  endforeach()
  # sluice_fmt is one of them: the archive holds the implementation of
# Debian's fmt (docs/library.md).
# (ar's quick append keeps members of the same name from different
  # folders, e.g. the three schema.cpp.o; the linker finds each by its index.)
  add_library(sluice_library STATIC ${objects})
  set_target_properties(sluice_library PROPERTIES OUTPUT_NAME sluice LINKER_LANGUAGE CXX)
  add_dependencies(sluice_library ${merge})

  set(link_options "")
  if(CMAKE_INTERPROCEDURAL_OPTIMIZATION)
    # The board presets compile with LTO: the archive then holds GCC's LTO
    # objects, which only a link with -flto (the same GCC) can use.
    list(APPEND link_options "-flto=auto")
  endif()

  set(SLUICE_LIB_LINK_LIBRARIES "${links}")
  set(SLUICE_LIB_LINK_OPTIONS "${link_options}")
  set(SLUICE_LIB_PROJECT_VERSION "${PROJECT_VERSION}")
  set(cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)
  configure_package_config_file(${CMAKE_CURRENT_FUNCTION_LIST_DIR}/sluice-config.cmake.in
                                ${CMAKE_BINARY_DIR}/library/sluice-config.cmake
                                INSTALL_DESTINATION ${cmake_dir}
                                PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
  # 0.x: a new minor release may change the API.
  write_basic_package_version_file(${CMAKE_BINARY_DIR}/library/sluice-config-version.cmake
                                   VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

  # pkg-config: paths relative to the .pc file, so the package can move.
  file(RELATIVE_PATH pc_to_prefix "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  set(pc_libs "")
  foreach(item IN LISTS link_options links)
    if(item MATCHES "^(-|/)")
      string(APPEND pc_libs " ${item}")
    else()
      string(APPEND pc_libs " -l${item}")  # dl, m, rt
    endif()
  endforeach()
  file(WRITE ${CMAKE_BINARY_DIR}/library/sluice.pc.in
"prefix=\${pcfiledir}/${pc_to_prefix}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: sluice
Description: The sluice edge gateway as a library (C++20; docs/library.md)
Version: ${PROJECT_VERSION}
Cflags: -I\${includedir}
Libs: -L\${libdir} -lsluice${pc_libs}
")
  configure_file(${CMAKE_BINARY_DIR}/library/sluice.pc.in ${CMAKE_BINARY_DIR}/library/sluice.pc COPYONLY)

  install(TARGETS sluice_library ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT library)
  install(FILES ${PROJECT_SOURCE_DIR}/src/embed/include/sluice/sluice.hpp
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sluice COMPONENT library)
  install(FILES ${CMAKE_BINARY_DIR}/library/sluice-config.cmake ${CMAKE_BINARY_DIR}/library/sluice-config-version.cmake
          DESTINATION ${cmake_dir} COMPONENT library)
  install(FILES ${CMAKE_BINARY_DIR}/library/sluice.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT library)
endfunction()
