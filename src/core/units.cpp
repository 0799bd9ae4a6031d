// Durations and sizes: parsing the user's text and formatting values back
// into text that parses to the same value.

#include "core/units.hpp"

#include <limits>

#include <fmt/format.h>

#include "core/option_text.hpp"
#include "text/text.hpp"

namespace sluice {

namespace {

using option_text::is_alpha;
using option_text::is_digit;
using option_text::quoted;
using option_text::set_error;

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();


// A non-negative decimal number "12", "1.5", ".5" split into its integer
// digits and fraction digits; the caller scales each by a unit without going
// through floating point, so "0.1s" is exactly 100ms.
struct Decimal {
    std::string_view whole;
    std::string_view fraction;
};

std::optional<Decimal> take_decimal(std::string_view& s) {
    std::size_t i = 0;
    while (i < s.size() && is_digit(s[i])) {
        ++i;
    }
    Decimal d{s.substr(0, i), {}};
    if (i < s.size() && s[i] == '.') {
        std::size_t j = i + 1;
        while (j < s.size() && is_digit(s[j])) {
            ++j;
        }
        d.fraction = s.substr(i + 1, j - i - 1);
        i = j;
    }
    if (d.whole.empty() && d.fraction.empty()) {
        return std::nullopt;
    }
    s.remove_prefix(i);
    return d;
}

// whole * unit + floor(fraction * unit); false past `limit`.
bool scale(const Decimal& d, std::uint64_t unit, std::uint64_t limit, std::uint64_t& out) {
    std::uint64_t v = 0;
    for (char c : d.whole) {
        if (__builtin_mul_overflow(v, std::uint64_t{10}, &v) ||
            __builtin_add_overflow(v, static_cast<std::uint64_t>(c - '0'), &v)) {
            return false;
        }
    }
    if (__builtin_mul_overflow(v, unit, &v)) {
        return false;
    }
    // floor(unit * 0.d1d2...dk), innermost digit first: each step is
    // (d * unit + carry) / 10, which stays below 10 * unit and whose nested
    // floors equal the floor of the exact value.
    std::uint64_t frac = 0;
    for (auto it = d.fraction.rbegin(); it != d.fraction.rend(); ++it) {
        frac = (static_cast<std::uint64_t>(*it - '0') * unit + frac) / 10;
    }
    if (__builtin_add_overflow(v, frac, &v) || v > limit) {
        return false;
    }
    out = v;
    return true;
}

struct Unit {
    std::string_view name;
    std::uint64_t factor;
};

constexpr Unit kDurationUnits[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xC2\xB5s", 1000ULL},  // µs
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
    {"d", 86400ULL * 1000000000ULL},
};

constexpr Unit kSizeUnits[] = {
    {"b", 1ULL},
    {"k", 1ULL << 10},
    {"kib", 1ULL << 10},
    {"kb", 1000ULL},
    {"m", 1ULL << 20},
    {"mib", 1ULL << 20},
    {"mb", 1000ULL * 1000ULL},
    {"g", 1ULL << 30},
    {"gib", 1ULL << 30},
    {"gb", 1000ULL * 1000ULL * 1000ULL},
    {"t", 1ULL << 40},
    {"tib", 1ULL << 40},
    {"tb", 1000ULL * 1000ULL * 1000ULL * 1000ULL},
};

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* error) {
    std::string_view s = trim(text);
    if (s.empty()) {
        set_error(error, "empty duration; write e.g. \"10s\"");
        return std::nullopt;
    }
    if (s.front() == '-') {
        set_error(error, fmt::format("duration {} must not be negative", quoted(text)));
        return std::nullopt;
    }
    std::uint64_t total = 0;
    bool first = true;
    while (!s.empty()) {
        auto number = take_decimal(s);
        if (!number) {
            set_error(error, fmt::format("invalid duration {}: expected a number at {}", quoted(text), quoted(s)));
            return std::nullopt;
        }
        while (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        std::size_t n = 0;
        while (n < s.size() && (is_alpha(s[n]) || static_cast<unsigned char>(s[n]) >= 0x80)) {
            ++n;
        }
        const std::string_view unit_text = s.substr(0, n);
        if (unit_text.empty()) {
            const bool zero = first && number->whole.find_first_not_of('0') == std::string_view::npos &&
                              number->fraction.find_first_not_of('0') == std::string_view::npos;
            if (zero && s.empty()) {
                return std::chrono::nanoseconds(0);
            }
            set_error(error, fmt::format("invalid duration {}: duration needs a unit, e.g. \"10s\" "
                                         "(units: ns, us, ms, s, m, h, d)",
                                         quoted(text)));
            return std::nullopt;
        }
        const Unit* unit = nullptr;
        for (const auto& u : kDurationUnits) {
            if (u.name == unit_text) {
                unit = &u;
            }
        }
        if (unit == nullptr) {
            set_error(error, fmt::format("invalid duration {}: unknown unit {} (units: ns, us, ms, s, m, h, d)",
                                         quoted(text), quoted(unit_text)));
            return std::nullopt;
        }
        std::uint64_t part = 0;
        if (!scale(*number, unit->factor, static_cast<std::uint64_t>(kInt64Max), part) ||
            __builtin_add_overflow(total, part, &total) || total > static_cast<std::uint64_t>(kInt64Max)) {
            set_error(error, fmt::format("duration {} is too large", quoted(text)));
            return std::nullopt;
        }
        s.remove_prefix(n);
        while (!s.empty() && s.front() == ' ') {
            s.remove_prefix(1);
        }
        first = false;
    }
    return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* error) {
    std::string_view s = trim(text);
    if (s.empty()) {
        set_error(error, "empty size; write e.g. \"64MiB\"");
        return std::nullopt;
    }
    if (s.front() == '-') {
        set_error(error, fmt::format("size {} must not be negative", quoted(text)));
        return std::nullopt;
    }
    auto number = take_decimal(s);
    if (!number) {
        set_error(error, fmt::format("invalid size {}: expected a number, e.g. \"64MiB\"", quoted(text)));
        return std::nullopt;
    }
    s = trim(s);
    std::uint64_t factor = 1;
    if (!s.empty()) {
        const Unit* unit = nullptr;
        for (const auto& u : kSizeUnits) {
            if (iequals(u.name, s)) {
                unit = &u;
            }
        }
        if (unit == nullptr) {
            set_error(error, fmt::format("invalid size {}: unknown unit {} (units: B, KB, MB, GB, KiB, MiB, GiB)",
                                         quoted(text), quoted(s)));
            return std::nullopt;
        }
        factor = unit->factor;
    }
    std::uint64_t bytes = 0;
    if (!scale(*number, factor, static_cast<std::uint64_t>(kInt64Max), bytes)) {
        set_error(error, fmt::format("size {} is too large", quoted(text)));
        return std::nullopt;
    }
    return bytes;
}

std::string format_duration(std::chrono::nanoseconds d) {
    std::int64_t ns = d.count();
    if (ns == 0) {
        return "0s";
    }
    std::string out;
    std::uint64_t v = 0;
    if (ns < 0) {
        out = "-";
        v = static_cast<std::uint64_t>(-(ns + 1)) + 1;
    } else {
        v = static_cast<std::uint64_t>(ns);
    }
    // Largest units first; every part is a whole number so the text parses
    // back to exactly the same value.
    static constexpr Unit kParts[] = {
        {"d", 86400ULL * 1000000000ULL}, {"h", 3600ULL * 1000000000ULL}, {"m", 60ULL * 1000000000ULL},
        {"s", 1000000000ULL},            {"ms", 1000000ULL},             {"us", 1000ULL},
        {"ns", 1ULL},
    };
    for (const auto& p : kParts) {
        if (v >= p.factor) {
            out += fmt::format("{}{}", v / p.factor, p.name);
            v %= p.factor;
        }
    }
    return out;
}

std::string format_size(std::uint64_t bytes) {
    if (bytes == 0) {
        return "0B";
    }
    static constexpr Unit kBinary[] = {{"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}};
    static constexpr Unit kDecimal[] = {{"TB", 1000000000000ULL}, {"GB", 1000000000ULL}, {"MB", 1000000ULL}, {"KB", 1000ULL}};
    for (const auto& u : kBinary) {
        if (bytes % u.factor == 0) {
            return fmt::format("{}{}", bytes / u.factor, u.name);
        }
    }
    for (const auto& u : kDecimal) {
        if (bytes % u.factor == 0) {
            return fmt::format("{}{}", bytes / u.factor, u.name);
        }
    }
    return fmt::format("{}B", bytes);
}

}  // namespace sluice
