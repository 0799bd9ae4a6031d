#include "text/text_value.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

namespace sluice {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Checks the literal grammar; from_chars alone would accept "inf", "nan",
// hex floats with some formats, and stop early on trailing junk.
struct Shape {
    bool valid = false;
    bool integral = false;
};

Shape number_shape(std::string_view s) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        ++i;
    }
    std::size_t int_digits = 0;
    while (i < n && is_digit(s[i])) {
        ++i;
        ++int_digits;
    }
    bool integral = true;
    std::size_t frac_digits = 0;
    if (i < n && s[i] == '.') {
        integral = false;
        ++i;
        while (i < n && is_digit(s[i])) {
            ++i;
            ++frac_digits;
        }
        // "1." and "." are too ambiguous (version strings, sentence ends).
        if (frac_digits == 0) {
            return {};
        }
    }
    if (int_digits + frac_digits == 0) {
        return {};
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        ++i;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            ++i;
        }
        std::size_t exp_digits = 0;
        while (i < n && is_digit(s[i])) {
            ++i;
            ++exp_digits;
        }
        if (exp_digits == 0) {
            return {};
        }
    }
    if (i != n) {
        return {};
    }
    return {true, integral};
}

std::optional<double> to_double(std::string_view s) {
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
    }
    double d = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(d)) {
        return std::nullopt;
    }
    return d;
}

}  // namespace

std::optional<FieldValue> parse_number(std::string_view s) {
    const Shape shape = number_shape(s);
    if (!shape.valid) {
        return std::nullopt;
    }
    if (shape.integral) {
        std::string_view digits = s;
        if (digits.front() == '+') {
            digits.remove_prefix(1);
        }
        std::int64_t v = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (ec == std::errc() && ptr == digits.data() + digits.size()) {
            return FieldValue{v};
        }
        // Too large for int64: still a number, just not an exact one.
    }
    if (auto d = to_double(s)) {
        return FieldValue{*d};
    }
    return std::nullopt;
}

std::optional<double> parse_double(std::string_view s) {
    if (!number_shape(s).valid) {
        return std::nullopt;
    }
    return to_double(s);
}

std::optional<bool> parse_bool(std::string_view s) {
    if (s == "true" || s == "True" || s == "TRUE") {
        return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
        return false;
    }
    return std::nullopt;
}

FieldValue typed_value(std::string_view s, bool decimal_comma) {
    if (!s.empty() && (is_digit(s.front()) || s.front() == '-' || s.front() == '+' || s.front() == '.')) {
        if (auto n = parse_number(s)) {
            return std::move(*n);
        }
        if (decimal_comma) {
            const auto comma = s.find(',');
            // Short cells only: a number never needs more, and the stack copy
            // keeps this allocation-free.
            char buf[64];
            if (comma != std::string_view::npos && s.size() < sizeof buf &&
                s.find(',', comma + 1) == std::string_view::npos && s.find('.') == std::string_view::npos) {
                s.copy(buf, s.size());
                buf[comma] = '.';
                if (auto n = parse_number(std::string_view(buf, s.size()))) {
                    if (const auto* i = std::get_if<std::int64_t>(&*n)) {
                        return FieldValue{static_cast<double>(*i)};
                    }
                    return std::move(*n);
                }
            }
        }
    }
    if (auto b = parse_bool(s)) {
        return FieldValue{*b};
    }
    return FieldValue{std::string(s)};
}

namespace {

// The length of the well-formed UTF-8 character starting at p[i] (i < n), or
// 0 when none starts there.
std::size_t utf8_char_length(const unsigned char* p, std::size_t i, std::size_t n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
        return 1;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > n) {
        return 0;
    }
    for (std::size_t k = 1; k < len; ++k) {
        const unsigned char cc = p[i + k];
        if ((cc & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
        return 0;
    }
    return len;
}

}  // namespace

bool valid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    // Nearly every string is plain ASCII: one branch-free pass decides.
    unsigned char any = 0;
    for (std::size_t k = 0; k < n; ++k) {
        any |= p[k];
    }
    if (any < 0x80) {
        return true;
    }
    std::size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            std::uint64_t w = 0;
            std::memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        const std::size_t len = utf8_char_length(p, i, n);
        if (len == 0) {
            return false;
        }
        i += len;
    }
    return true;
}

std::string replace_invalid_utf8(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::string out;
    out.reserve(s.size() + 8);
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = utf8_char_length(p, i, s.size());
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            ++i;
        } else {
            out.append(s.substr(i, len));
            i += len;
        }
    }
    return out;
}

std::string excerpt(std::string_view s, std::size_t max) {
    std::string out;
    const bool cut = s.size() > max;
    if (cut) {
        // Never in the middle of a UTF-8 character.
        while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) {
            --max;
        }
        s = s.substr(0, max);
    }
    out.reserve(s.size() + 3);
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    if (cut) {
        out += "...";
    }
    return out;
}

}  // namespace sluice
