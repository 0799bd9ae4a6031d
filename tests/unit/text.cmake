# Text shared by every part: the "{name}" template dialect, value text, the
# JSON reader, the CSV tokenizer, the payload forms of the message sinks.
sluice_unit_test(text_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/template_test.cpp ${CMAKE_CURRENT_LIST_DIR}/json_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/csv_test.cpp ${CMAKE_CURRENT_LIST_DIR}/payload_test.cpp
  LIBS sluice_text)
