# Configuration: option values, TOML, -e pipeline strings, relay URLs, docs.
# The tests use a registry of fake components (config_test_registry.hpp), so
# they do not depend on the real ones.
sluice_unit_test(config_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/config_options_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_url_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_toml_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_pipeline_string_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_relay_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/config_docs_test.cpp
  LIBS sluice_config)
