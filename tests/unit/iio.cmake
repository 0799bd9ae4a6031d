# The iio source (src/sources/iio): scan type parsing, record layout, sample
# extraction, and the sysfs lookups against fixture trees in a temp dir.
if(TARGET sluice_source_iio)
  sluice_unit_test(iio_test
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/iio_scan_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/iio_sysfs_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/iio_remote_test.cpp
    LIBS sluice_source_iio)
endif()
