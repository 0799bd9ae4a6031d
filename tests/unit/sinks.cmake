# The file sink (src/sinks/file).
if(TARGET sluice_sink_file)
  sluice_unit_test(sinks_file_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/sinks_file_test.cpp
    LIBS sluice_registry sluice_config)
endif()
