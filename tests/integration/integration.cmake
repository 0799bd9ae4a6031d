# Integration tests against real peers (mosquitto, ZeroMQ, fixture IIO
# trees, ...): every tests/integration/test_*.py, started by ctest.
file(GLOB integration_tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_*.py)
foreach(t IN LISTS integration_tests)
  get_filename_component(name ${t} NAME_WE)
  add_test(NAME integration_${name} COMMAND ${SLUICE_PYTHON} ${t})
  set_tests_properties(integration_${name} PROPERTIES LABELS integration TIMEOUT 900 SKIP_RETURN_CODE 77
    ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()
