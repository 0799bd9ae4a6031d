// The CBOR decoder on arbitrary bytes: never crashes, and keeps the decoder
// contract (output untouched unless Ok, a reason with every Broken).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "decoders/cbor/cbor.hpp"
#include "decoders/record_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto decoder = sluice::decoders::make_cbor_decoder();
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    f.origin = "fuzz";
    std::vector<sluice::Record> out(1);
    out[0].fields.push_back({"seed", sluice::FieldValue{std::int64_t{1}}});
    std::string error;
    const auto st = decoder->decode(f, out, error);
    if (out.empty() || out[0].fields.size() != 1 || out[0].fields[0].name != "seed") {
        std::abort();  // the record before the frame's was touched
    }
    if (st != sluice::DecodeStatus::Ok && out.size() != 1) {
        std::abort();
    }
    // Field names cost at most what the shared rules allow for the frame.
    std::size_t names = 0;
    for (std::size_t i = 1; i < out.size(); ++i) {
        for (const auto& field : out[i].fields) {
            names += field.name.size();
        }
    }
    if (names > size * sluice::decoders::RecordTree::kNameBudgetFactor + sluice::decoders::RecordTree::kNameBudgetSlack) {
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
