# HTTP client (src/net/http_client.*, http_response_parser.*) in sluice_net.
# zlib is linked through sluice_mbedtls; the test inflates gzip bodies itself.
sluice_unit_test(http_client_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_client_test.cpp LIBS sluice_net)
sluice_unit_test(websocket_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/websocket_test.cpp LIBS sluice_net)
