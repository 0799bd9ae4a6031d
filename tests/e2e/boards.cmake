# Board profiles (boards/, toolchains/).

# Every board's default configuration validates against this build.
add_test(NAME e2e_board_configs COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_board_configs.py)
set_tests_properties(e2e_board_configs PROPERTIES LABELS e2e TIMEOUT 120 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# toolchains/build-static for each ARM target: the sysroot, OpenSSL/librdkafka/
# libzmq from Debian's sources, the target's presets, qemu runs (with every
# component, the kafka sink delivering 10,000 records to this build's
# sluice_kafka_mock, read back with kcat) and the size budgets. Each runs
# alone (RUN_SERIAL) with two compile jobs: from scratch that is quicker than
# sharing the two cores with the rest of the suite, and a second run finds
# everything cached under build/.
#   cross_build_aarch64  raspberrypi4, minimal-aarch64
#   cross_build_armhf    beaglebone-black (32-bit ARM: what breaks on a
#                        32-bit pointer, size_t or long shows here)
set(_sluice_cross_env "SLUICE_JOBS=2")
if(TARGET sluice_sink_kafka)  # sluice_kafka_mock (tests/integration/kafka_mock.cmake) is built then
  list(APPEND _sluice_cross_env "SLUICE_KAFKA_MOCK=$<TARGET_FILE:sluice_kafka_mock>" "SLUICE_REQUIRE_KAFKA=1")
endif()
foreach(_arch IN ITEMS aarch64 armhf)
  add_test(NAME cross_build_${_arch} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/cross_build.sh ${_arch})
  set_tests_properties(cross_build_${_arch} PROPERTIES LABELS build TIMEOUT 3000 RUN_SERIAL TRUE
    ENVIRONMENT "${_sluice_cross_env}")
endforeach()
