sluice_unit_test(core_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/core_test.cpp ${CMAKE_CURRENT_LIST_DIR}/tls_options_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/push_endpoints_test.cpp
  LIBS sluice_core sluice_config)
