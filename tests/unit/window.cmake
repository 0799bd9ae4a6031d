# The window stage (src/stages/window) and the stream source / record decoder.
if(TARGET sluice_stage_window)
  sluice_unit_test(window_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/window_stage_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/window_sketch_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/window_clock_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/window_group_table_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/window_config_test.cpp
            ${CMAKE_CURRENT_LIST_DIR}/window_emit_test.cpp
    LIBS sluice_stage_window sluice_config)
endif()
if(TARGET sluice_source_stream AND TARGET sluice_decoder_record)
  sluice_unit_test(stream_source_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/stream_source_test.cpp
    LIBS sluice_source_stream sluice_decoder_record sluice_config)
endif()
