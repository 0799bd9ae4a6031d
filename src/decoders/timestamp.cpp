#include "decoders/timestamp.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "text/text_value.hpp"

namespace sluice::decoders {

namespace {

constexpr std::array<std::string_view, 4> kTimeFieldNames = {"time", "timestamp", "ts", "datetime"};

std::int64_t unit_factor(EpochUnit unit) {
    switch (unit) {
        case EpochUnit::Seconds:
            return 1'000'000'000;
        case EpochUnit::Millis:
            return 1'000'000;
        case EpochUnit::Micros:
            return 1'000;
        case EpochUnit::Nanos:
        case EpochUnit::Auto:
            break;
    }
    return 1;
}

EpochUnit unit_for_magnitude(double abs) {
    if (abs < 1e11) {
        return EpochUnit::Seconds;
    }
    if (abs < 1e14) {
        return EpochUnit::Millis;
    }
    if (abs < 1e17) {
        return EpochUnit::Micros;
    }
    return EpochUnit::Nanos;
}

// Fixed-width decimal digits at `pos`; nullopt unless all `width` are digits.
std::optional<unsigned> digits(std::string_view s, std::size_t pos, std::size_t width) {
    if (pos + width > s.size()) {
        return std::nullopt;
    }
    unsigned v = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return std::nullopt;
        }
        v = v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return v;
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
    static constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

std::string describe_value(const FieldValue& v) {
    if (const auto* s = std::get_if<std::string>(&v)) {
        return excerpt(*s);
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return fmt::format("{}", *i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        return fmt::format("{}", *d);
    }
    return std::get<bool>(v) ? "true" : "false";
}

}  // namespace

std::optional<EpochUnit> parse_epoch_unit(std::string_view text) {
    if (text == "auto") {
        return EpochUnit::Auto;
    }
    if (text == "s") {
        return EpochUnit::Seconds;
    }
    if (text == "ms") {
        return EpochUnit::Millis;
    }
    if (text == "us") {
        return EpochUnit::Micros;
    }
    if (text == "ns") {
        return EpochUnit::Nanos;
    }
    return std::nullopt;
}

std::optional<TimeNs> epoch_to_ns(std::int64_t v, EpochUnit unit) {
    if (unit == EpochUnit::Auto) {
        // Compared as double: |INT64_MIN| does not fit in int64.
        unit = unit_for_magnitude(std::fabs(static_cast<double>(v)));
    }
    TimeNs out = 0;
    if (__builtin_mul_overflow(v, unit_factor(unit), &out)) {
        return std::nullopt;
    }
    return out;
}

std::optional<TimeNs> epoch_to_ns(double v, EpochUnit unit) {
    if (!std::isfinite(v)) {
        return std::nullopt;
    }
    if (unit == EpochUnit::Auto) {
        unit = unit_for_magnitude(std::fabs(v));
    }
    // Whole units and the fraction separately: v * 1e9 in one double would
    // lose the sub-microsecond digits of a present-day epoch in seconds.
    const double whole = std::trunc(v);
    if (!(std::fabs(whole) < 9.2e18)) {
        return std::nullopt;
    }
    const auto factor = unit_factor(unit);
    const auto whole_i = static_cast<std::int64_t>(whole);
    const auto frac_ns = static_cast<std::int64_t>(std::llround((v - whole) * static_cast<double>(factor)));
    TimeNs out = 0;
    if (__builtin_mul_overflow(whole_i, factor, &out) || __builtin_add_overflow(out, frac_ns, &out)) {
        return std::nullopt;
    }
    return out;
}

std::optional<TimeNs> parse_iso8601(std::string_view s) {
    s = trim(s);
    // Date: YYYY-MM-DD.
    const auto year = digits(s, 0, 4);
    const auto month = digits(s, 5, 2);
    const auto day = digits(s, 8, 2);
    if (!year || !month || !day || s[4] != '-' || s[7] != '-') {
        return std::nullopt;
    }
    if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month)) {
        return std::nullopt;
    }
    std::int64_t seconds = days_from_civil(*year, *month, *day) * 86400;
    std::int64_t frac_ns = 0;
    std::size_t i = 10;
    if (i < s.size()) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') {
            return std::nullopt;
        }
        ++i;
        const auto hour = digits(s, i, 2);
        const auto minute = digits(s, i + 3, 2);
        if (!hour || !minute || s[i + 2] != ':' || *hour > 23 || *minute > 59) {
            return std::nullopt;
        }
        i += 5;
        unsigned second = 0;
        if (i < s.size() && s[i] == ':') {
            const auto sec = digits(s, i + 1, 2);
            // 60 is a leap second (RFC 3339); it simply rolls over.
            if (!sec || *sec > 60) {
                return std::nullopt;
            }
            second = *sec;
            i += 3;
            if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
                ++i;
                std::size_t n = 0;
                std::int64_t scale = 100'000'000;
                while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                    // Digits past nanoseconds are dropped, not rounded: a
                    // time never moves into the next second.
                    if (n < 9) {
                        frac_ns += (s[i] - '0') * scale;
                        scale /= 10;
                    }
                    ++n;
                    ++i;
                }
                if (n == 0) {
                    return std::nullopt;
                }
            }
        }
        seconds += *hour * 3600 + *minute * 60 + second;
        // Offset.
        if (i < s.size()) {
            if (s[i] == 'Z' || s[i] == 'z') {
                ++i;
            } else if (s[i] == '+' || s[i] == '-') {
                const int sign = s[i] == '+' ? 1 : -1;
                ++i;
                const auto oh = digits(s, i, 2);
                if (!oh || *oh > 23) {
                    return std::nullopt;
                }
                i += 2;
                unsigned om = 0;
                if (i < s.size()) {
                    if (s[i] == ':') {
                        ++i;
                    }
                    const auto m = digits(s, i, 2);
                    if (!m || *m > 59) {
                        return std::nullopt;
                    }
                    om = *m;
                    i += 2;
                }
                // Local time = UTC + offset, so UTC = local - offset.
                seconds -= sign * static_cast<std::int64_t>(*oh * 3600 + om * 60);
            } else {
                return std::nullopt;
            }
        }
        if (i != s.size()) {
            return std::nullopt;
        }
    }
    TimeNs out = 0;
    if (__builtin_mul_overflow(seconds, std::int64_t{1'000'000'000}, &out) ||
        __builtin_add_overflow(out, frac_ns, &out)) {
        return std::nullopt;
    }
    return out;
}

std::optional<TimeNs> value_to_time(const FieldValue& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return epoch_to_ns(*i);
    }
    if (const auto* d = std::get_if<double>(&v)) {
        return epoch_to_ns(*d);
    }
    if (const auto* s = std::get_if<std::string>(&v)) {
        if (auto t = parse_iso8601(*s)) {
            return t;
        }
        if (auto n = parse_number(trim(*s))) {
            return value_to_time(*n);
        }
    }
    return std::nullopt;
}

std::optional<std::string> take_time_field(Record& r) {
    std::size_t best = r.fields.size();
    std::size_t best_rank = kTimeFieldNames.size();
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
        const std::string& name = r.fields[i].name;
        // Cheap length filter first: almost every field is not a time field.
        if (name.size() < 2 || name.size() > 9) {
            continue;
        }
        for (std::size_t rank = 0; rank < best_rank; ++rank) {
            if (name == kTimeFieldNames[rank]) {
                best = i;
                best_rank = rank;
                break;
            }
        }
        if (best_rank == 0) {
            break;
        }
    }
    if (best == r.fields.size()) {
        return std::nullopt;
    }
    const auto t = value_to_time(r.fields[best].value);
    if (!t) {
        return fmt::format("field '{}': cannot read '{}' as a time", excerpt(r.fields[best].name),
                           describe_value(r.fields[best].value));
    }
    r.time_ns = *t;
    r.fields.erase(r.fields.begin() + static_cast<std::ptrdiff_t>(best));
    return std::nullopt;
}

}  // namespace sluice::decoders
