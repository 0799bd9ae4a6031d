# `cmake --install` layout of the service, and the CPack .deb built from it.
# With CMAKE_INSTALL_PREFIX=/usr (packages):
#   /usr/bin/sluice
#   /etc/sluice/sluice.toml                 conffile: the service's configuration
#   /lib/systemd/system/sluice.service      Type=notify, watchdog, hardening
#   /usr/lib/sysusers.d/sluice.conf         the "sluice" system user
#   /usr/share/doc/sluice/                  README, operations guide, examples, copyright
#
# Board profiles and toolchains set:
#   SLUICE_MEMORY_MAX        the unit's MemoryMax= (e.g. 128M on a 512 MB board)
#   SLUICE_SERVICE_CONFIG    the file installed as /etc/sluice/sluice.toml
#   SLUICE_DEB_ARCHITECTURE  the package's Architecture (default: from CMAKE_SYSTEM_PROCESSOR)

# (A new build tree installs to /usr: see the top-level CMakeLists.txt.)
include(GNUInstallDirs)

if(TARGET sluice)
  install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(SLUICE_MEMORY_MAX "256M" CACHE STRING
    "MemoryMax= of the installed systemd unit (a board profile sets it for its RAM)")
set(SLUICE_SERVICE_CONFIG "${CMAKE_CURRENT_SOURCE_DIR}/sluice.toml" CACHE FILEPATH
    "Configuration installed as <sysconfdir>/sluice/sluice.toml (a board profile may give its own)")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(sluice_default_unit_dir "/lib/systemd/system")
else()
  set(sluice_default_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
set(SLUICE_SYSTEMD_UNIT_DIR "${sluice_default_unit_dir}" CACHE PATH "Where the systemd unit is installed")
set(SLUICE_SYSUSERS_DIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" CACHE PATH "Where the sysusers.d file is installed")

set(SLUICE_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(SLUICE_SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}")
set(SLUICE_DOCDIR "${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/sluice")
set(SLUICE_CONFIG_FILE "${SLUICE_SYSCONFDIR}/sluice/sluice.toml")
set(SLUICE_SYSUSERS_FILE "${SLUICE_SYSUSERS_DIR}/sluice.conf")

set(svc_out ${CMAKE_CURRENT_BINARY_DIR}/service)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/sluice.service.in ${svc_out}/sluice.service @ONLY)

install(FILES ${svc_out}/sluice.service DESTINATION ${SLUICE_SYSTEMD_UNIT_DIR})
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/sluice.sysusers DESTINATION ${SLUICE_SYSUSERS_DIR} RENAME sluice.conf)
install(FILES ${SLUICE_SERVICE_CONFIG} DESTINATION ${SLUICE_SYSCONFDIR}/sluice RENAME sluice.toml)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/config-reference.md ${CMAKE_CURRENT_SOURCE_DIR}/debian/copyright
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/sluice)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/examples/ DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/sluice/examples
        FILES_MATCHING PATTERN "*.toml" PATTERN "*.json")
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/sluice-iio.conf
        DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/sluice/examples/sluice.service.d RENAME iio.conf)

# ---- Debian package (cpack -G DEB) ----------------------------------------

# dpkg's name for the target: from the toolchain's processor, not the build host.
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" sluice_proc)
if(sluice_proc MATCHES "^(x86_64|amd64)$")
  set(sluice_deb_arch amd64)
elseif(sluice_proc MATCHES "^(aarch64|arm64)")
  set(sluice_deb_arch arm64)
elseif(sluice_proc MATCHES "^arm")
  set(sluice_deb_arch armhf)  # Debian's 32-bit ARM gateways are hard-float (armel: set SLUICE_DEB_ARCHITECTURE)
elseif(sluice_proc MATCHES "^i[3-6]86$")
  set(sluice_deb_arch i386)
elseif(sluice_proc MATCHES "^riscv64")
  set(sluice_deb_arch riscv64)
else()
  set(sluice_deb_arch "${sluice_proc}")
endif()
set(SLUICE_DEB_ARCHITECTURE "${sluice_deb_arch}" CACHE STRING "Architecture of the .deb (dpkg's name)")
set(SLUICE_DEB_RELEASE "1" CACHE STRING "Debian revision of the package version")
set(SLUICE_PACKAGE_MAINTAINER "sluice maintainers <maintainers@sluice.example>" CACHE STRING
    "Maintainer field of the .deb")

set(SLUICE_DEB_VERSION "${PROJECT_VERSION}-${SLUICE_DEB_RELEASE}")
string(TIMESTAMP SLUICE_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)  # honours SOURCE_DATE_EPOCH

set(deb_out ${CMAKE_CURRENT_BINARY_DIR}/debian)
foreach(script IN ITEMS postinst prerm postrm)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/debian/${script} ${deb_out}/${script} @ONLY
                 FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                                  WORLD_READ WORLD_EXECUTE)
endforeach()
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/debian/conffiles.in ${deb_out}/conffiles @ONLY)
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/debian/changelog.in ${deb_out}/changelog @ONLY)
# Debian wants the changelog gzipped, with no name or time stamp in the header.
find_program(SLUICE_GZIP gzip REQUIRED)
execute_process(COMMAND ${SLUICE_GZIP} -9nc ${deb_out}/changelog OUTPUT_FILE ${deb_out}/changelog.Debian.gz
                COMMAND_ERROR_IS_FATAL ANY)
install(FILES ${deb_out}/changelog.Debian.gz DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/sluice)
if(SLUICE_STATIC)
  install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/debian/lintian-overrides
          DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME sluice)
endif()

set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "edge/IoT data-acquisition gateway")
set(CPACK_PACKAGE_CONTACT "${SLUICE_PACKAGE_MAINTAINER}")
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_NAME sluice)
set(CPACK_DEBIAN_PACKAGE_RELEASE "${SLUICE_DEB_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${SLUICE_DEB_ARCHITECTURE}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SLUICE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents this
# text, and an empty line separates paragraphs.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "sluice reads sensors and brokers (MQTT, ZeroMQ, Unix sockets, Linux IIO,
files), decodes what the devices send, keeps it safe in an SQLite buffer on
local flash, aggregates it over time windows and forwards it upstream
(Kafka, CrateDB, Prometheus pushgateway) when the network allows.

The package installs the sluice service (systemd, hardened, with a
watchdog) without enabling or starting it: edit /etc/sluice/sluice.toml,
then run systemctl enable --now sluice.")
# The unit needs systemd, and postinst its systemd-sysusers (prerm's
# deb-systemd-invoke is in the essential init-system-helpers).
set(sluice_deb_depends "systemd")
if(SLUICE_STATIC)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)  # nothing to depend on
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${sluice_deb_depends}")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${deb_out}/conffiles ${deb_out}/postinst ${deb_out}/prerm ${deb_out}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_PACKAGE_DIRECTORY "${PROJECT_BINARY_DIR}/packages")
# The service only: libsluice (the `library` component, src/cmake/SluiceLibrary.cmake)
# is for building programs, not for the board.
set(CPACK_INSTALL_CMAKE_PROJECTS "${PROJECT_BINARY_DIR};sluice;Unspecified;/")
include(CPack)
