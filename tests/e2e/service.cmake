# The service: the sd_notify protocol and watchdog against a stand-in for
# systemd's socket, the installed unit (systemd-analyze verify and security),
# and the .deb package (dpkg-deb, lintian). Exit status 77 means skipped.
add_test(NAME e2e_test_sd_notify COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_sd_notify.py)
set_tests_properties(e2e_test_sd_notify PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SLUICE_TEST_HOOKS=${SLUICE_TEST_HOOKS}")

foreach(t IN ITEMS test_service_unit test_deb_package)
  add_test(NAME service_${t} COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}.py)
  set_tests_properties(service_${t} PROPERTIES LABELS "e2e;package" TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SLUICE_BUILD_DIR=${PROJECT_BINARY_DIR};CMAKE_COMMAND=${CMAKE_COMMAND};CPACK_COMMAND=${CMAKE_CPACK_COMMAND};SLUICE_INSTALL_PREFIX=${CMAKE_INSTALL_PREFIX};SLUICE_STATIC=${SLUICE_STATIC};SLUICE_DEB_ARCHITECTURE=${SLUICE_DEB_ARCHITECTURE};SLUICE_VERSION=${PROJECT_VERSION}")
endforeach()
