# Board profiles (boards/, toolchains/).

# Every board's default configuration validates against this build.
add_test(NAME e2e_board_configs COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_board_configs.py)
set_tests_properties(e2e_board_configs PROPERTIES LABELS e2e TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# toolchains/build-static aarch64: the sysroot, OpenSSL/librdkafka/libzmq from
# Debian's sources, the raspberrypi4 and minimal-aarch64 presets, qemu runs
# and the size budgets. It runs alone (RUN_SERIAL) with two compile jobs: from
# scratch that is quicker than sharing the two cores with the rest of the
# suite, and a second run finds everything cached under build/.
add_test(NAME cross_build_aarch64 COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/cross_build.sh)
set_tests_properties(cross_build_aarch64 PROPERTIES LABELS build TIMEOUT 3000 RUN_SERIAL TRUE
  ENVIRONMENT "SLUICE_JOBS=2")
