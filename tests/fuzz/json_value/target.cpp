// The one JSON reader (text/json.hpp) on arbitrary bytes: the tree read whole
// (CrateDB's answers) and the number rule every JSON reader shares.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "text/json.hpp"

namespace {

std::size_t walk(const sluice::JsonValue& v) {
    std::size_t n = 1;
    if (const auto* a = v.array()) {
        for (const auto& x : *a) {
            n += walk(x);
        }
    } else if (const auto* o = v.object()) {
        for (const auto& [k, x] : *o) {
            n += k.size() + walk(x);
        }
    }
    (void)v.number();
    (void)v.get("error");
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    if (auto v = sluice::parse_json(text, &error)) {
        (void)walk(*v);
    }
    (void)sluice::json_number(text.substr(0, 64), &error);
    return 0;
}
