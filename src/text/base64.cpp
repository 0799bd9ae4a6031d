#include "text/base64.hpp"

#include <cstdint>

namespace sluice {

void append_base64(std::string& out, std::string_view data, Base64 alphabet, bool pad) {
    const char* const tbl = alphabet == Base64::Url
                                ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(out.size() + (data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v = (static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16) |
                                (static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8) |
                                static_cast<unsigned char>(data[i + 2]);
        out += tbl[v >> 18];
        out += tbl[(v >> 12) & 63];
        out += tbl[(v >> 6) & 63];
        out += tbl[v & 63];
    }
    const std::size_t rest = data.size() - i;
    if (rest == 0) {
        return;
    }
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16;
    if (rest == 2) {
        v |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    }
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    if (rest == 2) {
        out += tbl[(v >> 6) & 63];
    }
    if (pad) {
        out.append(3 - rest, '=');
    }
}

}  // namespace sluice
