# Tables, the expression language and the record stages (map, filter,
# divide, collect, table, enrich, join), and the /api/table endpoints.
sluice_unit_test(expr_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/expr_test.cpp LIBS sluice_expr)
sluice_unit_test(tables_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tables_test.cpp LIBS sluice_tables sluice_buffer)
sluice_unit_test(table_api_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/table_api_test.cpp LIBS sluice_http)
sluice_unit_test(stages_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/stages_test.cpp LIBS sluice_runtime)
