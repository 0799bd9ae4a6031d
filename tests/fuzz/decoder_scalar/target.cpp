// The scalar decoder on arbitrary bytes: at most one record, one field.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "decoders/scalar/scalar.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto decoder = sluice::decoders::make_scalar_decoder();
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    f.origin = "fuzz";
    std::vector<sluice::Record> out(1);
    std::string error;
    const auto st = decoder->decode(f, out, error);
    if (st == sluice::DecodeStatus::Broken) {
        std::abort();  // scalar has no "broken": a payload is a value or not
    }
    if (st == sluice::DecodeStatus::NotMine && out.size() != 1) {
        std::abort();
    }
    if (st == sluice::DecodeStatus::Ok && (out.size() != 2 || out[1].fields.size() != 1)) {
        std::abort();
    }
    return 0;
}
