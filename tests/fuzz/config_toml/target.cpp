// load_config_text on arbitrary input, against the fake component registry.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../../unit/config_test_registry.hpp"
#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // '@' starts a secret read from a file; the fuzzer must not open /dev/stdin.
    if (size > 64 * 1024 || text.find('@') != std::string_view::npos) {
        return 0;
    }
    sluice::Diagnostics diag;
    auto cfg = sluice::load_config_text(text, "fuzz.toml", sluice::testing::config_test_registry(), diag);
    if (cfg) {
        for (const auto& p : cfg->pipelines) {
            for (const auto& s : p.sources) {
                (void)s.options.entries().size();
            }
        }
    }
    (void)diag.str();
    return 0;
}
