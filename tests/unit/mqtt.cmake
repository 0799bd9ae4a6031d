# The mqtt source's option checks, URL mapping and back-off (no broker needed;
# the broker tests are tests/integration/test_mqtt*.py).
if(TARGET sluice_source_mqtt)
  sluice_unit_test(mqtt_config_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/mqtt_config_test.cpp
    LIBS sluice_source_mqtt sluice_config)
endif()
if(TARGET sluice_sink_mqtt)
  sluice_unit_test(mqtt_sink_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/mqtt_sink_test.cpp
    LIBS sluice_sink_mqtt sluice_config)
endif()
