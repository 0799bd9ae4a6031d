# The kafka sink's murmur2 and the option mapping of the kafka sink and
# source (no broker needed; the broker tests are
# tests/integration/test_kafka.py and test_kafka_source.py).
if(TARGET sluice_sink_kafka)
  sluice_unit_test(kafka_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/kafka_format_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/kafka_options_test.cpp
    LIBS sluice_sink_kafka sluice_source_kafka sluice_config)
endif()
