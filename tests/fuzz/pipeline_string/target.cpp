// parse_pipeline_string (`sluice run -e`) on arbitrary input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../../unit/config_test_registry.hpp"
#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // '@' starts a secret read from a file; the fuzzer must not open /dev/stdin.
    if (size > 16 * 1024 || text.find('@') != std::string_view::npos) {
        return 0;
    }
    sluice::Diagnostics diag;
    auto cfg = sluice::parse_pipeline_string(text, sluice::testing::config_test_registry(), diag);
    (void)cfg;
    (void)diag.str();
    return 0;
}
