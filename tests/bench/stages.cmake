# Record stages' throughput: sluice_bench_stages [records]. Meaningful in a
# Release build without sanitizers.
add_executable(sluice_bench_stages ${CMAKE_CURRENT_LIST_DIR}/stages_bench.cpp)
target_link_libraries(sluice_bench_stages PRIVATE sluice_runtime)
