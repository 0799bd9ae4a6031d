#pragma once
// Small text utilities shared by every part that reads or writes text (one
// trim, one case-insensitive compare: ASCII only, as protocols and config
// keywords are).

#include <cstddef>
#include <string_view>

namespace sluice {

inline constexpr std::string_view kWhitespace = " \t\r\n";

// `s` without the characters of `chars` (spaces, tabs, CR and LF unless
// told otherwise) at both ends.
inline std::string_view trim(std::string_view s, std::string_view chars = kWhitespace) {
    const auto first = s.find_first_not_of(chars);
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Equal ignoring ASCII case.
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

// The 1-based column of byte `offset` in `text`, counting UTF-8 characters
// (what an editor shows), for error messages.
inline int utf8_column(std::string_view text, std::size_t offset) {
    int col = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++col;
        }
    }
    return col;
}

}  // namespace sluice
