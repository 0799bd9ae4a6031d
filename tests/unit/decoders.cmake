# Decoders and the decoder chain (src/decoders).
sluice_unit_test(decoders_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/decoders_timestamp_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_json_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_influx_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_csv_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_logfmt_scalar_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_chain_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_binary_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_protobuf_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_sparkplug_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_avro_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders_json_record_test.cpp
  LIBS
    sluice_decoder_json sluice_decoder_influx sluice_decoder_csv sluice_decoder_logfmt sluice_decoder_scalar
    sluice_decoder_cbor sluice_decoder_msgpack sluice_decoder_protobuf sluice_decoder_sparkplug_b sluice_decoder_avro
    sluice_decode)
