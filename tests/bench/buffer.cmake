# sluice_bench_buffer: append and read+commit rates of the SQLite buffer.
# Build it Release (-DCMAKE_BUILD_TYPE=Release, no sanitizers) for real figures.
add_executable(sluice_bench_buffer ${CMAKE_CURRENT_LIST_DIR}/buffer_bench.cpp)
target_link_libraries(sluice_bench_buffer PRIVATE sluice_buffer)
