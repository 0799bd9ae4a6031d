# sluice_bench_embed: libsluice through its public API only: pushes per second
# one at a time (each waits for its commit) and in batches, and the records/s
# a callback sink gets. Build it Release for real figures.
if(TARGET sluice_embed AND TARGET sluice_source_callback AND TARGET sluice_sink_callback)
  add_executable(sluice_bench_embed ${CMAKE_CURRENT_LIST_DIR}/embed_bench.cpp)
  target_link_libraries(sluice_bench_embed PRIVATE sluice_embed)
endif()
