// decode_record is fed whatever is in the buffer's database file, which can
// be corrupted on flash: it must reject anything malformed without reading
// out of bounds. It only accepts canonical encodings, so anything it accepts
// must re-encode to exactly the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "buffer/buffer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    sluice::Record r;
    if (!sluice::decode_record(in, r)) {
        return 0;
    }
    std::string again;
    sluice::encode_record(r, again);
    if (again != in) {
        std::abort();
    }
    // Decoding into a record that already holds values must give the same.
    sluice::Record reused = r;
    if (!sluice::decode_record(again, reused)) {
        std::abort();
    }
    std::string third;
    sluice::encode_record(reused, third);
    if (third != again) {
        std::abort();
    }
    return 0;
}
