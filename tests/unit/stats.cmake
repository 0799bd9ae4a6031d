# The stats hub (src/stats): rate windows, latency histograms, the hub's
# JSON and its topic bound, driven with a virtual clock.
sluice_unit_test(stats_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/stats_test.cpp LIBS sluice_stats)
