# The postgresql sink's pure parts: the table layout, statements, values in
# PostgreSQL's text form, COPY escaping, SQLSTATE classes and the search for
# refused rows (no server needed; the peer test is
# tests/integration/test_postgresql_sink.py).
if(TARGET sluice_sink_postgresql)
  sluice_unit_test(postgresql_rows_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/postgresql_rows_test.cpp
    LIBS sluice_sink_postgresql)
endif()
