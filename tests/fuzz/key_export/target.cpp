// The document `sluice keys import` reads (keys/key_export.hpp) on
// arbitrary bytes: parsed, and what parses is written and parsed again to
// the same document (the writer's form is a fixed point).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/key_export.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::string error;
    const auto e = sluice::keys::parse_key_export(text, &error);
    if (!e) {
        if (error.empty()) {
            __builtin_trap();  // a refusal always says why
        }
        return 0;
    }
    const std::string once = sluice::keys::write_key_export(*e);
    const auto again = sluice::keys::parse_key_export(once, &error);
    if (!again || sluice::keys::write_key_export(*again) != once) {
        __builtin_trap();
    }
    return 0;
}
