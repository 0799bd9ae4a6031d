// multipart/form-data bodies for the table API on arbitrary input: the first
// line is the Content-Type (with its boundary), the rest the body. Parsed on
// its own and as a table value.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/table_api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 64 * 1024) {
        return 0;
    }
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto nl = text.find('\n');
    const std::string_view content_type = text.substr(0, nl);
    const std::string_view body = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::string error;
    const auto parts = sluice::http::parse_multipart(content_type, body, &error);
    if (parts && parts->size() > sluice::http::kMaxFormParts) {
        __builtin_trap();
    }
    (void)sluice::http::value_from_body(content_type, body, &error);
    return 0;
}
