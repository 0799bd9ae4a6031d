# sluice_bench_sqlite_floor: insert + read back + delete through the bare
# SQLite API, the floor tests/bench/run sets the durable path against.
add_executable(sluice_bench_sqlite_floor ${CMAKE_CURRENT_LIST_DIR}/sqlite_floor.cpp)
target_link_libraries(sluice_bench_sqlite_floor PRIVATE sluice_buffer)
