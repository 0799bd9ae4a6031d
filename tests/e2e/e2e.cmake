# End-to-end tests: python3 scripts driving the real sluice binary.
foreach(t IN ITEMS test_decode_mix test_kill_restart test_cli test_sources_sinks
                 test_table_api test_enrich_join test_window_restart test_file_sink_owns test_unix_manners
                 test_config_test test_stats test_tap
                 test_remote_cli test_http_source test_exec_source test_exec_decoder_stage test_privacy
                 test_replay test_table_joins test_docs test_glossary test_tutorial test_grafana
                 test_pipeline_strings test_troubleshooting)
  add_test(NAME e2e_${t} COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${t}.py)
  set_tests_properties(e2e_${t} PROPERTIES LABELS e2e TIMEOUT 600 SKIP_RETURN_CODE 77
    ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()

# Damaged buffer, tables and window-state files: moved aside, salvaged, the
# alarm raised, the gateway collecting on.
add_test(NAME e2e_test_damaged_files COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_damaged_files.py)
set_tests_properties(e2e_test_damaged_files PROPERTIES LABELS e2e TIMEOUT 600 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# 300 slow clients against the HTTP API for 30 s while /health is probed.
add_test(NAME e2e_test_http_slow_clients COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_http_slow_clients.py)
set_tests_properties(e2e_test_http_slow_clients PROPERTIES LABELS e2e TIMEOUT 180 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# /metrics and /ready scraped back to back while the worker commits large
# batches: no SQLite on the I/O loop; prints the scrape latency.
add_test(NAME e2e_test_http_scrape_under_load COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_http_scrape_under_load.py)
set_tests_properties(e2e_test_http_scrape_under_load PROPERTIES LABELS e2e TIMEOUT 180 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")

# Builds the release-static preset in its own tree (one job, so the rest of
# the suite keeps a core) and checks the result.
add_test(NAME static_build COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/e2e/static_build.sh)
set_tests_properties(static_build PROPERTIES LABELS build TIMEOUT 1800)

# The web UI in headless chromium (Selenium + chromedriver): overview graph,
# live charts, table browser with the token, no console errors; screenshots
# in test-output/web-ui. Skipped (77) without chromium/chromedriver/selenium.
add_test(NAME e2e_test_web_ui COMMAND ${SLUICE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e/test_web_ui.py)
set_tests_properties(e2e_test_web_ui PROPERTIES LABELS e2e TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${PROJECT_SOURCE_DIR};SLUICE_TEST_OUTPUT=${CMAKE_BINARY_DIR}/test-output/web-ui")
