# Every dependency comes from Debian's archive and can link statically.
# Header-only helpers are checked for here so a missing package fails at
# configure time with the package name, not deep inside a compile.

include(CheckIncludeFileCXX)

function(sluice_require_header header package)
  find_path(_found_${package} NAMES ${header})
  if(NOT _found_${package})
    message(FATAL_ERROR "${header} not found: install the Debian package '${package}' "
                        "(firmware-gw/install-deps does this)")
  endif()
endfunction()

sluice_require_header(toml++/toml.h libtomlplusplus-dev)
sluice_require_header(CLI/CLI.hpp libcli11-dev)
sluice_require_header(rapidjson/document.h rapidjson-dev)
sluice_require_header(fmt/format.h libfmt-dev)

# fmt is used header-only so no shared libfmt is needed at run time.
add_library(sluice_fmt INTERFACE)
target_compile_definitions(sluice_fmt INTERFACE FMT_HEADER_ONLY=1)

add_library(sluice_toml INTERFACE)
# Keep toml++ header-only; exceptions give us source regions for errors.
target_compile_definitions(sluice_toml INTERFACE TOML_HEADER_ONLY=1 TOML_EXCEPTIONS=1)

if(SLUICE_STATIC)
  find_library(SQLITE3_LIBRARY NAMES libsqlite3.a REQUIRED)
else()
  find_library(SQLITE3_LIBRARY NAMES sqlite3 REQUIRED)
endif()
find_path(SQLITE3_INCLUDE_DIR NAMES sqlite3.h REQUIRED)
add_library(sluice_sqlite3 INTERFACE)
target_include_directories(sluice_sqlite3 INTERFACE ${SQLITE3_INCLUDE_DIR})
target_link_libraries(sluice_sqlite3 INTERFACE ${SQLITE3_LIBRARY} ${CMAKE_DL_LIBS} m)

find_package(Threads REQUIRED)
