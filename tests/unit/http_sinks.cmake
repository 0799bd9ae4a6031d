# The cratedb, pushgateway and http sinks' pure parts: naming, request bodies,
# response parsing, grouping paths, exposition text (no peers needed; the
# peer tests are tests/integration/test_cratedb.py, test_pushgateway.py and test_http_sink.py).
if(TARGET sluice_sink_cratedb)
  sluice_unit_test(cratedb_protocol_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/cratedb_protocol_test.cpp
    LIBS sluice_sink_cratedb)
endif()
if(TARGET sluice_sink_pushgateway)
  sluice_unit_test(pushgateway_protocol_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/pushgateway_protocol_test.cpp
    LIBS sluice_sink_pushgateway)
endif()
if(TARGET sluice_sink_http)
  sluice_unit_test(http_sink_protocol_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_sink_protocol_test.cpp
    LIBS sluice_sink_http)
endif()
