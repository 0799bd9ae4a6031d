#pragma once
// What every decoder's fuzz target checks on arbitrary bytes: it never
// crashes; the record before the frame's is untouched; on NotMine and Broken
// the output is as it was, and Broken says why; every record carries the
// frame's origin; the field names of a nested format stay within the budget
// of the shared rules (decoders/record_tree.hpp).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/component.hpp"
#include "decoders/record_tree.hpp"

namespace sluice::fuzz {

inline void check_decoder(Decoder& decoder, const std::uint8_t* data, std::size_t size,
                          const std::string& origin = "fuzz") {
    Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    f.origin = origin;
    std::vector<Record> out(1);
    out[0].fields.push_back({"seed", FieldValue{std::int64_t{1}}});
    std::string error;
    const auto st = decoder.decode(f, out, error);
    if (out.empty() || out[0].fields.size() != 1 || out[0].fields[0].name != "seed") {
        std::abort();  // the record before the frame's was touched
    }
    if (st != DecodeStatus::Ok && out.size() != 1) {
        std::abort();
    }
    if (st == DecodeStatus::Broken && error.empty()) {
        std::abort();
    }
    std::size_t names = 0;
    for (std::size_t i = 1; i < out.size(); ++i) {
        if (out[i].origin != origin) {
            std::abort();
        }
        for (const auto& field : out[i].fields) {
            names += field.name.size();
        }
    }
    if (names > size * decoders::RecordTree::kNameBudgetFactor + decoders::RecordTree::kNameBudgetSlack) {
        std::abort();
    }
}

}  // namespace sluice::fuzz
