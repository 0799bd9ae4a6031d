// The salvage of a damaged buffer reads SQLite's page format itself
// (buffer/page_scan.hpp) from whatever bytes are left in the file: any
// input must be scanned without reading out of bounds or looping, and every
// record found must lie within the input's bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "buffer/page_scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view file(reinterpret_cast<const char*>(data), size);
    sluice::buffer_detail::scan_record_pages(file, [](std::uint64_t, std::int64_t, std::string_view body, std::uint64_t) {
        // A body is gathered from its page and its overflow chain, bounded
        // by the length its cell states (at most 64 MiB).
        if (body.size() > (std::size_t{64} << 20)) {
            std::abort();
        }
    });
    return 0;
}
