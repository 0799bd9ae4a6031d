// decode_record is fed whatever is in the buffer's database file, which can
// be corrupted on flash: it must reject anything malformed without reading
// out of bounds. It only accepts canonical encodings, so anything it accepts
// must re-encode to exactly the same bytes. The same input is also read as
// a row (its first byte as n, the rest as the body): a pack that splits lies
// within the body and re-packs to exactly the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "buffer/buffer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    if (size > 0) {
        const std::string_view body = in.substr(1);
        std::vector<std::string_view> parts;
        if (sluice::split_row(body, data[0], parts)) {
            std::string bytes;
            std::vector<std::uint32_t> sizes;
            for (const auto p : parts) {
                if (p.data() < body.data() || p.data() + p.size() > body.data() + body.size()) {
                    std::abort();
                }
                bytes.append(p);
                sizes.push_back(static_cast<std::uint32_t>(p.size()));
            }
            if (parts.size() != data[0]) {
                std::abort();
            }
            if (parts.size() > 1) {
                std::string packed;
                sluice::encode_pack(bytes, sizes, packed);
                if (packed != body) {
                    std::abort();
                }
            }
        }
    }
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
