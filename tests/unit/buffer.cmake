# The SQLite store-and-forward buffer (src/buffer).
sluice_unit_test(buffer_codec_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/buffer_codec_test.cpp
  LIBS sluice_buffer)

sluice_unit_test(buffer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/buffer_store_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/buffer_offline_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/buffer_crash_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/buffer_snapshot_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/buffer_loop_thread_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/buffer_space_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/buffer_damage_test.cpp
  LIBS sluice_buffer sluice_sqlite3)
