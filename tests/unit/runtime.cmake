# The pipeline runtime's parts (src/runtime): the worker and the sink runner,
# each alone with fakes, a real buffer in a temporary directory and a
# virtual clock; the gateway lifecycle (start, reload, stop) with simulate
# sources, file sinks and a fake sink in a temporary data directory.
sluice_unit_test(runtime_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/runtime_worker_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/runtime_sink_runner_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/runtime_lifecycle_test.cpp
  LIBS sluice_runtime)

# The boundary of component threads and callbacks (core/guard.hpp), and
# sources whose frame hand-off throws, driven without a peer.
sluice_unit_test(runtime_guard_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/runtime_guard_test.cpp
  LIBS sluice_runtime)
