// The logfmt decoder on arbitrary bytes: no crash, and the decoder contract holds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "decoders/logfmt/logfmt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto decoder = sluice::decoders::make_logfmt_decoder();
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    f.origin = "fuzz";
    std::vector<sluice::Record> out(1);
    std::string error;
    const auto st = decoder->decode(f, out, error);
    if (st != sluice::DecodeStatus::Ok && out.size() != 1) {
        std::abort();
    }
    if (st == sluice::DecodeStatus::Broken && error.empty()) {
        std::abort();
    }
    for (std::size_t i = 1; i < out.size(); ++i) {
        if (out[i].origin != "fuzz") {
            std::abort();
        }
    }
    return 0;
}
