sluice_unit_test(core_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/core_test.cpp ${CMAKE_CURRENT_LIST_DIR}/tls_options_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/push_endpoints_test.cpp ${CMAKE_CURRENT_LIST_DIR}/child_process_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/child_exchange_test.cpp
  LIBS sluice_core sluice_config)
if(TARGET sluice_source_http)
  sluice_unit_test(http_source_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_source_test.cpp
    LIBS sluice_source_http sluice_config)
endif()
