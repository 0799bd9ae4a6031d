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

std::optional<std::string> decode_base64(std::string_view text, Base64 alphabet) {
    // Canonical only: padding, when there is any, brings the length to a
    // multiple of 4 (at most "=="), and the bits the last character has
    // beyond the data are zero; so each byte string has one encoding (with
    // padding, and one without).
    const std::size_t padded = text.size();
    std::size_t pads = 0;
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
        ++pads;
    }
    if (pads > 2 || (pads > 0 && padded % 4 != 0) || text.size() % 4 == 1) {
        return std::nullopt;
    }
    const char c62 = alphabet == Base64::Url ? '-' : '+';
    const char c63 = alphabet == Base64::Url ? '_' : '/';
    const auto value = [&](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        return c == c62 ? 62 : c == c63 ? 63 : -1;
    };
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = value(c);
        if (v < 0) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    if ((acc & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

}  // namespace sluice
