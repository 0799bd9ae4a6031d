# sluice_bench_kafka: buffer → kafka sink → librdkafka mock cluster, records/s
# for the default batch (1000 growing to 4000) and fixed batches of 1000 and
# 10000, driven by the runtime's sink runner. Build it Release for real figures.
if(TARGET sluice_sink_kafka)
  add_executable(sluice_bench_kafka ${CMAKE_CURRENT_LIST_DIR}/kafka_bench.cpp)
  target_link_libraries(sluice_bench_kafka PRIVATE sluice_runtime sluice_buffer sluice_sink_kafka sluice_rdkafka sluice_config)
endif()
