# Cross-compiling for 64-bit ARM (arm64: Raspberry Pi 4/5, most current
# gateways) with Debian's g++-aarch64-linux-gnu.
#   cmake -S . -B build/x --toolchain toolchains/aarch64-linux-gnu.cmake \
#         [-DSLUICE_SYSROOT=build/sysroot-aarch64] [-DSLUICE_DEPS_PREFIX=build/deps-aarch64]
# The sysroot and the dependency prefix come from toolchains/build-sysroot aarch64.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(SLUICE_TARGET_TRIPLE aarch64-linux-gnu)
set(SLUICE_TARGET_ARCH aarch64)
set(SLUICE_QEMU_ARCH aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/linux-gnu-cross.cmake)
