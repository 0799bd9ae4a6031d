# Every dependency comes from Debian's archive and can link statically.
# Header-only helpers are checked for here so a missing package fails at
# configure time with the package name, not deep inside a compile.

include(CheckIncludeFileCXX)

# Static libraries that Debian has no usable archive of (OpenSSL trimmed,
# librdkafka without GSSAPI, libzmq without GSSAPI/PGM/NORM, cppzmq), built
# from Debian's source packages by toolchains/build-sysroot into
# build/deps-<arch>. The board presets set it; the cross toolchain files put it
# first in CMAKE_FIND_ROOT_PATH, a native build puts it first in
# CMAKE_PREFIX_PATH. Empty (the default): the build machine's libraries.
set(SLUICE_DEPS_PREFIX "${SLUICE_DEPS_PREFIX}" CACHE PATH
    "Prefix with static OpenSSL, librdkafka and libzmq from toolchains/build-sysroot (empty: none)")
if(SLUICE_DEPS_PREFIX)
  if(NOT EXISTS "${SLUICE_DEPS_PREFIX}/.stamp-openssl")
    message(FATAL_ERROR "SLUICE_DEPS_PREFIX=${SLUICE_DEPS_PREFIX} has not been built: run "
                        "toolchains/build-sysroot <arch> (or toolchains/build-static <arch>)")
  endif()
  if(NOT CMAKE_CROSSCOMPILING)
    list(PREPEND CMAKE_PREFIX_PATH "${SLUICE_DEPS_PREFIX}")
  endif()
  set(OPENSSL_ROOT_DIR "${SLUICE_DEPS_PREFIX}")
endif()

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

# Link it PRIVATE where rapidjson is included. Under clang's UBSan it keeps
# UBSan out of rapidjson's own headers (sanitizer-ignorelist.txt): Debian's
# 1.1.0 adds an offset to a null pointer in internal::Stack::Reserve on every
# first push (fixed upstream after 1.1.0), which would otherwise abort every
# JSON test and fuzz target now that UB is fatal.
add_library(sluice_rapidjson INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang" AND (SLUICE_SANITIZE OR SLUICE_BUILD_FUZZ))
  target_compile_options(sluice_rapidjson INTERFACE
    -fsanitize-ignorelist=${CMAKE_CURRENT_LIST_DIR}/sanitizer-ignorelist.txt)
endif()

# fmt: Debian ships only a shared libfmt, so its implementation is compiled
# once from Debian's header into this small static library
# (src/fmtlib/fmt_implementation.cpp) and every other file includes only the
# declarations. (FMT_HEADER_ONLY in every file cost about 3 s of compile
# time per file at -O2, four times that under ASan.)
add_library(sluice_fmt STATIC ${CMAKE_CURRENT_LIST_DIR}/../fmtlib/fmt_implementation.cpp)
set_target_properties(sluice_fmt PROPERTIES POSITION_INDEPENDENT_CODE ON)

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
target_include_directories(sluice_sqlite3 SYSTEM INTERFACE ${SQLITE3_INCLUDE_DIR})
target_link_libraries(sluice_sqlite3 INTERFACE ${SQLITE3_LIBRARY} ${CMAKE_DL_LIBS} m)

find_package(Threads REQUIRED)

# RE2 runs topology = "regex" over origins that peers choose (MQTT topics,
# ZeroMQ topic frames) in linear time and bounded stack, where <regex>
# backtracks and recurses. The minimal board presets leave it out; then
# topology = "pattern" covers the layouts and "regex" is a config error.
option(SLUICE_WITH_RE2 "topology = \"regex\" through RE2 (linear-time matching)" ON)
add_library(sluice_re2 INTERFACE)
if(SLUICE_WITH_RE2)
  if(SLUICE_STATIC)
    find_library(RE2_LIBRARY NAMES libre2.a)
  else()
    find_library(RE2_LIBRARY NAMES re2)
  endif()
  find_path(RE2_INCLUDE_DIR NAMES re2/re2.h)
  if(NOT RE2_LIBRARY OR NOT RE2_INCLUDE_DIR)
    message(FATAL_ERROR "RE2 not found: install libre2-dev (firmware-gw/install-deps), "
                        "or configure with -DSLUICE_WITH_RE2=OFF")
  endif()
  target_include_directories(sluice_re2 INTERFACE ${RE2_INCLUDE_DIR})
  target_link_libraries(sluice_re2 INTERFACE ${RE2_LIBRARY} Threads::Threads)
  target_compile_definitions(sluice_re2 INTERFACE SLUICE_WITH_RE2=1)
else()
  target_compile_definitions(sluice_re2 INTERFACE SLUICE_WITH_RE2=0)
endif()

# ---------------------------------------------------------------- inputs
# Each is looked for only when its component is switched on, so a minimal
# board build needs none of them.

# Eclipse Paho MQTT C, asynchronous client, with TLS (OpenSSL) unless
# SLUICE_MQTT_TLS is off: then the plain-TCP library links, without OpenSSL,
# and the mqtt source refuses ssl:// servers (the minimal board set).
option(SLUICE_MQTT_TLS "MQTT over TLS (Paho with OpenSSL); OFF links Paho's plain-TCP client only" ON)
function(sluice_find_paho)
  if(TARGET sluice_paho)
    return()
  endif()
  if(SLUICE_MQTT_TLS)
    set(paho_name paho-mqtt3as)
  else()
    set(paho_name paho-mqtt3a)
  endif()
  if(SLUICE_STATIC)
    set(OPENSSL_USE_STATIC_LIBS ON)
    find_library(PAHO_ASYNC_LIBRARY NAMES lib${paho_name}.a)
  else()
    find_library(PAHO_ASYNC_LIBRARY NAMES ${paho_name})
  endif()
  find_path(PAHO_INCLUDE_DIR NAMES MQTTAsync.h)
  if(NOT PAHO_ASYNC_LIBRARY OR NOT PAHO_INCLUDE_DIR)
    message(FATAL_ERROR "Paho MQTT C not found: install libpaho-mqtt-dev (firmware-gw/install-deps), "
                        "or configure with -DSLUICE_WITH_MQTT=OFF")
  endif()
  add_library(sluice_paho INTERFACE)
  target_include_directories(sluice_paho SYSTEM INTERFACE ${PAHO_INCLUDE_DIR})
  target_link_libraries(sluice_paho INTERFACE ${PAHO_ASYNC_LIBRARY})
  if(SLUICE_MQTT_TLS)
    find_package(OpenSSL REQUIRED)
    target_link_libraries(sluice_paho INTERFACE OpenSSL::SSL OpenSSL::Crypto)
    target_compile_definitions(sluice_paho INTERFACE SLUICE_MQTT_TLS=1)
  else()
    target_compile_definitions(sluice_paho INTERFACE SLUICE_MQTT_TLS=0)
  endif()
  target_link_libraries(sluice_paho INTERFACE Threads::Threads ${CMAKE_DL_LIBS})
endfunction()

# Static archives that the static libraries of the dependency prefix need
# after them (compression for librdkafka).
function(sluice_find_static_archive var name)
  find_library(${var} NAMES lib${name}.a)
  if(NOT ${var})
    message(FATAL_ERROR "lib${name}.a not found (in the sysroot or on this machine)")
  endif()
endfunction()

# ZeroMQ (libzmq + cppzmq). Debian's libzmq.a needs GSSAPI, which has no
# static archive: the static presets switch zmq off until the board
# toolchain builds libzmq from Debian's source without it.
function(sluice_find_zmq)
  if(TARGET sluice_zmq)
    return()
  endif()
  if(SLUICE_STATIC AND SLUICE_DEPS_PREFIX)
    find_library(ZMQ_LIBRARY NAMES libzmq.a)
  else()
    find_library(ZMQ_LIBRARY NAMES zmq)
  endif()
  find_path(CPPZMQ_INCLUDE_DIR NAMES zmq.hpp)
  if(NOT ZMQ_LIBRARY OR NOT CPPZMQ_INCLUDE_DIR)
    message(FATAL_ERROR "ZeroMQ not found: install libzmq3-dev and cppzmq-dev (firmware-gw/install-deps), "
                        "or configure with -DSLUICE_WITH_ZMQ=OFF")
  endif()
  add_library(sluice_zmq INTERFACE)
  target_include_directories(sluice_zmq SYSTEM INTERFACE ${CPPZMQ_INCLUDE_DIR})
  target_link_libraries(sluice_zmq INTERFACE ${ZMQ_LIBRARY})
  if(SLUICE_STATIC AND SLUICE_DEPS_PREFIX)
    target_compile_definitions(sluice_zmq INTERFACE ZMQ_STATIC)
    target_link_libraries(sluice_zmq INTERFACE Threads::Threads rt)
  endif()
endfunction()

# libiio is optional: the iio source reads sysfs and /dev/iio:deviceN
# itself; libiio only adds remote contexts (ip:, usb:). It has no static
# archive, so it is off by default.
option(SLUICE_WITH_LIBIIO "Let the iio source use libiio for remote contexts (ip:, usb:)" OFF)
function(sluice_find_libiio)
  if(TARGET sluice_libiio)
    return()
  endif()
  add_library(sluice_libiio INTERFACE)
  if(SLUICE_WITH_LIBIIO)
    find_library(IIO_LIBRARY NAMES iio REQUIRED)
    find_path(IIO_INCLUDE_DIR NAMES iio.h REQUIRED)
    target_include_directories(sluice_libiio SYSTEM INTERFACE ${IIO_INCLUDE_DIR})
    target_link_libraries(sluice_libiio INTERFACE ${IIO_LIBRARY})
    target_compile_definitions(sluice_libiio INTERFACE SLUICE_HAVE_LIBIIO=1)
  endif()
endfunction()

# ---------------------------------------------------------------- outputs

# mbedTLS: the TLS of sluice's own HTTP client (CrateDB, pushgateway).
# Always needed: the client lives in sluice_net. zlib gzips request bodies.
if(SLUICE_STATIC)
  find_library(MBEDTLS_LIBRARY NAMES libmbedtls.a REQUIRED)
  find_library(MBEDX509_LIBRARY NAMES libmbedx509.a REQUIRED)
  find_library(MBEDCRYPTO_LIBRARY NAMES libmbedcrypto.a REQUIRED)
  find_library(ZLIB_LIBRARY_STATIC NAMES libz.a REQUIRED)
  set(SLUICE_ZLIB ${ZLIB_LIBRARY_STATIC})
else()
  find_library(MBEDTLS_LIBRARY NAMES mbedtls REQUIRED)
  find_library(MBEDX509_LIBRARY NAMES mbedx509 REQUIRED)
  find_library(MBEDCRYPTO_LIBRARY NAMES mbedcrypto REQUIRED)
  find_library(SLUICE_ZLIB NAMES z REQUIRED)
endif()
find_path(MBEDTLS_INCLUDE_DIR NAMES mbedtls/ssl.h REQUIRED)
add_library(sluice_mbedtls INTERFACE)
target_include_directories(sluice_mbedtls SYSTEM INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(sluice_mbedtls INTERFACE ${MBEDTLS_LIBRARY} ${MBEDX509_LIBRARY} ${MBEDCRYPTO_LIBRARY}
                                               ${SLUICE_ZLIB})

# librdkafka. Debian's librdkafka.a pulls in cyrus-sasl (and through it
# LDAP), which have no static archives: the static presets switch kafka off
# until the board toolchain builds librdkafka from Debian's source without
# SASL-GSSAPI.
function(sluice_find_rdkafka)
  if(TARGET sluice_rdkafka)
    return()
  endif()
  if(SLUICE_STATIC AND SLUICE_DEPS_PREFIX)
    find_library(RDKAFKA_LIBRARY NAMES librdkafka.a)
  else()
    find_library(RDKAFKA_LIBRARY NAMES rdkafka)
  endif()
  find_path(RDKAFKA_INCLUDE_DIR NAMES librdkafka/rdkafka.h)
  if(NOT RDKAFKA_LIBRARY OR NOT RDKAFKA_INCLUDE_DIR)
    message(FATAL_ERROR "librdkafka not found: install librdkafka-dev (firmware-gw/install-deps), "
                        "or configure with -DSLUICE_WITH_KAFKA=OFF")
  endif()
  add_library(sluice_rdkafka INTERFACE)
  target_include_directories(sluice_rdkafka SYSTEM INTERFACE ${RDKAFKA_INCLUDE_DIR})
  target_link_libraries(sluice_rdkafka INTERFACE ${RDKAFKA_LIBRARY})
  if(SLUICE_STATIC AND SLUICE_DEPS_PREFIX)
    # toolchains/build-sysroot's librdkafka: OpenSSL from the prefix, zstd
    # and zlib from the sysroot, its own copy of lz4.
    set(OPENSSL_USE_STATIC_LIBS ON)
    find_package(OpenSSL REQUIRED)
    sluice_find_static_archive(ZSTD_LIBRARY_STATIC zstd)
    target_link_libraries(sluice_rdkafka INTERFACE OpenSSL::SSL OpenSSL::Crypto ${ZSTD_LIBRARY_STATIC}
                                                   ${SLUICE_ZLIB} Threads::Threads ${CMAKE_DL_LIBS} m rt)
  endif()
endfunction()

# libpq, PostgreSQL's client library (the postgresql sink). Debian's
# libpq.a needs GSSAPI and LDAP, which have no static archives: static
# builds take libpq, libpgcommon and libpgport from the dependency prefix,
# built from Debian's postgresql source without them
# (toolchains/build-sysroot); static builds without a prefix and the
# minimal presets switch the sink off.
function(sluice_find_libpq)
  if(TARGET sluice_libpq)
    return()
  endif()
  if(SLUICE_STATIC)
    if(NOT SLUICE_DEPS_PREFIX)
      message(FATAL_ERROR "A static postgresql sink needs libpq from toolchains/build-sysroot "
                          "(SLUICE_DEPS_PREFIX), or configure with -DSLUICE_WITH_POSTGRESQL=OFF")
    endif()
    find_library(PQ_LIBRARY NAMES libpq.a)
    find_library(PGCOMMON_LIBRARY NAMES libpgcommon.a)
    find_library(PGPORT_LIBRARY NAMES libpgport.a)
  else()
    find_library(PQ_LIBRARY NAMES pq)
    set(PGCOMMON_LIBRARY "")
    set(PGPORT_LIBRARY "")
  endif()
  find_path(PQ_INCLUDE_DIR NAMES libpq-fe.h PATH_SUFFIXES postgresql)
  if(NOT PQ_LIBRARY OR NOT PQ_INCLUDE_DIR)
    message(FATAL_ERROR "libpq not found: install libpq-dev (firmware-gw/install-deps), "
                        "or configure with -DSLUICE_WITH_POSTGRESQL=OFF")
  endif()
  add_library(sluice_libpq INTERFACE)
  target_include_directories(sluice_libpq SYSTEM INTERFACE ${PQ_INCLUDE_DIR})
  target_link_libraries(sluice_libpq INTERFACE ${PQ_LIBRARY})
  if(SLUICE_STATIC)
    set(OPENSSL_USE_STATIC_LIBS ON)
    find_package(OpenSSL REQUIRED)
    target_link_libraries(sluice_libpq INTERFACE ${PGCOMMON_LIBRARY} ${PGPORT_LIBRARY} OpenSSL::SSL OpenSSL::Crypto
                                                 Threads::Threads m)
  endif()
endfunction()
