# Shared part of the cross toolchain files (aarch64-linux-gnu.cmake,
# arm-linux-gnueabihf.cmake): Debian's cross compilers, a sysroot made by
# toolchains/build-sysroot, and find rules that look only inside the sysroot
# and the dependency prefix, never at the build machine's own libraries.
#
# Input (set by the including file): SLUICE_TARGET_TRIPLE, SLUICE_TARGET_ARCH
# (the name build-sysroot uses: aarch64, armhf), CMAKE_SYSTEM_PROCESSOR.
#
# Cache variables, each with a default under build/:
#   SLUICE_SYSROOT       the target root (headers, static archives)
#   SLUICE_DEPS_PREFIX   libraries built from Debian's source packages
#                        (OpenSSL, librdkafka, libzmq) for this target

set(CMAKE_SYSTEM_NAME Linux)

# The toolchain file is read again for every try_compile; environment
# variables carry the chosen paths into those nested projects.
get_filename_component(_sluice_tree "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
# A path variable: its value if set, else the environment's, else `fallback`.
macro(_sluice_path var fallback)
  if(NOT ${var})
    if(DEFINED ENV{${var}} AND NOT "$ENV{${var}}" STREQUAL "")
      set(${var} "$ENV{${var}}")
    else()
      set(${var} "${fallback}")
    endif()
  endif()
endmacro()
_sluice_path(SLUICE_SYSROOT "${_sluice_tree}/build/sysroot-${SLUICE_TARGET_ARCH}")
_sluice_path(SLUICE_DEPS_PREFIX "${_sluice_tree}/build/deps-${SLUICE_TARGET_ARCH}")
set(SLUICE_SYSROOT "${SLUICE_SYSROOT}" CACHE PATH "Target root made by toolchains/build-sysroot")
set(SLUICE_DEPS_PREFIX "${SLUICE_DEPS_PREFIX}" CACHE PATH
    "Static libraries built from Debian's source packages for the target")
set(ENV{SLUICE_SYSROOT} "${SLUICE_SYSROOT}")
set(ENV{SLUICE_DEPS_PREFIX} "${SLUICE_DEPS_PREFIX}")

if(NOT EXISTS "${SLUICE_SYSROOT}/usr/include")
  message(FATAL_ERROR "No sysroot at ${SLUICE_SYSROOT}: run "
                      "'toolchains/build-sysroot ${SLUICE_TARGET_ARCH}' first "
                      "(or 'toolchains/build-static ${SLUICE_TARGET_ARCH}', which does everything)")
endif()

find_program(_sluice_cc ${SLUICE_TARGET_TRIPLE}-gcc)
if(NOT _sluice_cc)
  message(FATAL_ERROR "${SLUICE_TARGET_TRIPLE}-gcc not found: run toolchains/install-cross-deps")
endif()
set(CMAKE_C_COMPILER ${SLUICE_TARGET_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SLUICE_TARGET_TRIPLE}-g++)
# LTO needs the gcc wrappers of ar/ranlib (they load the LTO plugin).
set(CMAKE_AR ${SLUICE_TARGET_TRIPLE}-gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${SLUICE_TARGET_TRIPLE}-gcc-ranlib CACHE FILEPATH "")
set(CMAKE_C_COMPILER_AR ${SLUICE_TARGET_TRIPLE}-gcc-ar)
set(CMAKE_CXX_COMPILER_AR ${SLUICE_TARGET_TRIPLE}-gcc-ar)
set(CMAKE_C_COMPILER_RANLIB ${SLUICE_TARGET_TRIPLE}-gcc-ranlib)
set(CMAKE_CXX_COMPILER_RANLIB ${SLUICE_TARGET_TRIPLE}-gcc-ranlib)
set(CMAKE_STRIP ${SLUICE_TARGET_TRIPLE}-strip CACHE FILEPATH "")

set(CMAKE_SYSROOT "${SLUICE_SYSROOT}")
# The dependency prefix comes first, so its OpenSSL, librdkafka and libzmq
# win over anything of the same name in the sysroot.
set(CMAKE_FIND_ROOT_PATH "${SLUICE_DEPS_PREFIX}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE ${SLUICE_TARGET_TRIPLE})

# pkg-config reads the target's .pc files only.
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${SLUICE_SYSROOT}")
set(ENV{PKG_CONFIG_LIBDIR}
    "${SLUICE_SYSROOT}/usr/lib/${SLUICE_TARGET_TRIPLE}/pkgconfig:${SLUICE_SYSROOT}/usr/share/pkgconfig")

# Target programs (tests, the binary itself) run under qemu-user when it is
# installed; -L lets a dynamically linked one find the sysroot's loader.
find_program(_sluice_qemu qemu-${SLUICE_QEMU_ARCH}-static)
if(_sluice_qemu)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${_sluice_qemu} -L ${SLUICE_SYSROOT})
endif()
