# sluice_kafka_mock: librdkafka's mock cluster as a program, driven over
# stdin by tests/integration/test_kafka.py and the kafka benchmark.
if(TARGET sluice_sink_kafka)
  add_executable(sluice_kafka_mock ${CMAKE_CURRENT_LIST_DIR}/kafka_mock/kafka_mock.cpp)
  target_link_libraries(sluice_kafka_mock PRIVATE sluice_rdkafka)
endif()
