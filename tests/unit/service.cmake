# The service manager protocol (src/runtime/sd_notify.*) and the watchdog and
# status reports built on it (src/runtime/service_monitor.*).
sluice_unit_test(service_notify_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/service_notify_test.cpp
  LIBS sluice_runtime)
