// parse_url, percent_decode and parse_relay on arbitrary input. The input is
// "SOURCE_URL\nSINK_URL" (the second line is optional).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../../unit/config_test_registry.hpp"
#include "config/config.hpp"
#include "core/url.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size > 16 * 1024) {
        return 0;
    }
    std::string error;
    if (auto url = sluice::parse_url(text, &error)) {
        (void)url->param("decode");
    }
    (void)sluice::percent_decode(text);

    // A password may be a secret read from a file; the fuzzer must not open /dev/stdin.
    if (text.find('@') != std::string_view::npos || text.find("%40") != std::string_view::npos) {
        return 0;
    }
    const auto nl = text.find('\n');
    const std::string_view source = text.substr(0, nl);
    const std::string_view sink = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    sluice::Diagnostics diag;
    auto cfg = sluice::parse_relay(source, sink, sluice::testing::config_test_registry(), diag);
    (void)cfg;
    (void)diag.str();
    return 0;
}
