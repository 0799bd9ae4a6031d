# The zmq and unix sources (src/sources/zmq, src/sources/unix). Each test is
# built only when its component is.
if(TARGET sluice_source_unix)
  sluice_unit_test(unix_source_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/unix_framing_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/unix_socket_test.cpp
    LIBS sluice_source_unix)
endif()
if(TARGET sluice_source_zmq)
  sluice_unit_test(zmq_source_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/zmq_source_test.cpp
    LIBS sluice_source_zmq sluice_zmq sluice_config)
endif()
