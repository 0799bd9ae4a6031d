# sluice_kafka_mock: librdkafka's mock cluster as a program, driven over
# stdin by tests/integration/test_kafka.py and the kafka benchmark.
if(TARGET sluice_sink_kafka)
  add_executable(sluice_kafka_mock ${CMAKE_CURRENT_LIST_DIR}/kafka_mock/kafka_mock.cpp)
  target_link_libraries(sluice_kafka_mock PRIVATE sluice_rdkafka)
endif()

# sluice_kafka_txn_client: librdkafka's transactional client against the
# transactions stand-in (tests/integration/test_kafka_txn_standin.py).
if(TARGET sluice_sink_kafka)
  add_executable(sluice_kafka_txn_client ${CMAKE_CURRENT_LIST_DIR}/kafka_txn_client/kafka_txn_client.c)
  target_link_libraries(sluice_kafka_txn_client PRIVATE sluice_rdkafka)
endif()
