# Decoder throughput: sluice_bench_decode [records]. Meaningful in a Release
# build without sanitizers.
add_executable(sluice_bench_decode ${CMAKE_CURRENT_LIST_DIR}/decode_bench.cpp)
target_link_libraries(sluice_bench_decode PRIVATE
  sluice_decoder_json sluice_decoder_influx sluice_decoder_csv sluice_decoder_logfmt sluice_decoder_cbor
  sluice_decoder_msgpack sluice_decoder_protobuf sluice_decoder_sparkplug_b sluice_decoder_avro sluice_decode)
