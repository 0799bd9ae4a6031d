#pragma once
// Small text helpers shared by the option value parsers (core/units.cpp) and
// option resolution (src/config): character classes, error output, how a
// user's text is quoted in a message, and lists of names in one. Internal; not a public API.

#include <span>
#include <string>
#include <string_view>

namespace sluice::option_text {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

inline void set_error(std::string* error, std::string text) {
    if (error != nullptr) {
        *error = std::move(text);
    }
}

inline std::string quoted(std::string_view s) {
    // Error messages quote the user's text; keep them one line and short.
    std::string out = "\"";
    std::size_t n = 0;
    for (char c : s) {
        if (++n > 64) {
            out += "...";
            break;
        }
        if (c == '\n') {
            out += "\\n";
        } else if (c == '"') {
            out += "\\\"";
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += '?';
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

inline std::string join(std::span<const std::string_view> items, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out += sep;
        }
        out += items[i];
    }
    return out;
}

}  // namespace sluice::option_text
