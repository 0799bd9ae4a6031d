# HTTP server (src/net, sluice_net) and the gateway API (src/http, sluice_http).
sluice_unit_test(http_parser_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_parser_test.cpp LIBS sluice_net)
sluice_unit_test(http_server_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_server_test.cpp LIBS sluice_net)
sluice_unit_test(http_api_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_api_test.cpp LIBS sluice_http)
sluice_unit_test(http_process_metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_process_metrics_test.cpp
                 LIBS sluice_http)
sluice_unit_test(http_stream_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_stream_test.cpp LIBS sluice_http)
sluice_unit_test(http_ui_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_ui_test.cpp LIBS sluice_http)
