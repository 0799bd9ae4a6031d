// What an exec decoder's or exec stage's command answers, on arbitrary
// bytes: each answer line read as the decoder reads it and as the stage
// reads it (decoders/json_record.hpp), records and all.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "decoders/json_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    sluice::Record base;
    base.origin = "fuzz";
    base.fields = {{"v", std::int64_t{1}}};
    std::vector<sluice::Record> out;
    std::string error;
    const auto st = sluice::decoders::read_decoder_answer(text, base, out, error);
    if (st != sluice::DecodeStatus::Ok && !out.empty()) {
        __builtin_trap();  // records only with Ok
    }
    const std::size_t before = out.size();
    if (!sluice::decoders::read_stage_answer(text, base, out, error) && out.size() != before) {
        __builtin_trap();  // all or none
    }
    return 0;
}
