# Cross-compiling for 32-bit ARM with hardware floating point (Debian's
# armhf: ARMv7-A, VFPv3-D16, Thumb-2; BeagleBone Black, Raspberry Pi OS
# 32-bit on a Pi Zero 2 W / Pi 3) with Debian's g++-arm-linux-gnueabihf.
#   cmake -S . -B build/x --toolchain toolchains/arm-linux-gnueabihf.cmake \
#         [-DSLUICE_SYSROOT=build/sysroot-armhf] [-DSLUICE_DEPS_PREFIX=build/deps-armhf]
# The sysroot and the dependency prefix come from toolchains/build-sysroot armhf.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(SLUICE_TARGET_TRIPLE arm-linux-gnueabihf)
set(SLUICE_TARGET_ARCH armhf)
set(SLUICE_QEMU_ARCH arm)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
