# libsluice's public API, linked as a program embedding it links it (only
# the public header on its include path).
if(TARGET sluice_embed AND TARGET sluice_source_callback AND TARGET sluice_sink_callback)
  sluice_unit_test(embed_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/embed_test.cpp
    LIBS sluice_embed)
endif()
