# Field encryption, pseudonyms and the key store (src/keys), and the
# encrypt and decrypt stages over them.
sluice_unit_test(keys_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/keys_test.cpp
  LIBS sluice_keys sluice_text sluice_buffer sluice_runtime)
