#pragma once
// Hexadecimal digits: the one reader (URL percent escapes, keys written as
// 64 hex digits) and writer (key ids in the key store).

#include <span>
#include <string>

namespace sluice {

// 0..15 for a hex digit (either case), -1 for anything else.
constexpr int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Lower-case hex of `bytes`, two digits each.
inline std::string to_hex(std::span<const unsigned char> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const unsigned char c : bytes) {
        out += kDigits[c >> 4];
        out += kDigits[c & 15];
    }
    return out;
}

}  // namespace sluice
