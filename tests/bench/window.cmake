# sluice_bench_window: records/s through the window stage alone and memory
# per open group. Build it Release for real figures.
if(TARGET sluice_stage_window)
  add_executable(sluice_bench_window ${CMAKE_CURRENT_LIST_DIR}/window_bench.cpp)
  target_link_libraries(sluice_bench_window PRIVATE sluice_stage_window sluice_config)
endif()
