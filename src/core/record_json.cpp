#include "core/record_json.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <ctime>
#include <iterator>

#include <fmt/compile.h>
#include <fmt/format.h>

namespace sluice {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    // Runs of characters that need no escaping are appended at once.
    std::size_t run = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xf];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

namespace {

// Howard Hinnant's civil_from_days: days since 1970-01-01 → y/m/d.
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += (m <= 2);
}

void append_time_of_day(std::string& out, std::int64_t rem, std::int64_t nanos);

}  // namespace

void append_date(std::string& out, std::int64_t days) {
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}", y, m, d);
}

void append_rfc3339(std::string& out, TimeNs t) {
    std::int64_t secs = t / 1'000'000'000;
    std::int64_t nanos = t % 1'000'000'000;
    if (nanos < 0) {
        nanos += 1'000'000'000;
        secs -= 1;
    }
    std::int64_t days = secs / 86400;
    std::int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    // Fixed-width digits by hand: this runs once per record in every JSON output.
    char buf[32];
    auto put = [&buf](std::size_t at, std::uint64_t v, int width) {
        for (int k = width - 1; k >= 0; --k) {
            buf[at + static_cast<std::size_t>(k)] = static_cast<char>('0' + v % 10);
            v /= 10;
        }
    };
    // Records come in time order, so the date part ("2026-11-22T") is
    // nearly always the previous record's: computed once per day and thread.
    thread_local std::int64_t cached_day = std::numeric_limits<std::int64_t>::min();
    thread_local char cached_date[11];
    if (days != cached_day) {
        std::int64_t y;
        unsigned m, d;
        civil_from_days(days, y, m, d);
        if (y < 0 || y > 9999) {
            fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T", y, m, d);
            cached_day = std::numeric_limits<std::int64_t>::min();
            return append_time_of_day(out, rem, nanos);
        }
        put(0, static_cast<std::uint64_t>(y), 4);
        buf[4] = '-';
        put(5, m, 2);
        buf[7] = '-';
        put(8, d, 2);
        buf[10] = 'T';
        std::memcpy(cached_date, buf, sizeof cached_date);
        cached_day = days;
    }
    out.append(cached_date, sizeof cached_date);
    append_time_of_day(out, rem, nanos);
}

namespace {

// "HH:MM:SS[.fff[fff[fff]]]Z" for `rem` seconds into the day.
void append_time_of_day(std::string& out, std::int64_t rem, std::int64_t nanos) {
    char buf[32];
    auto put = [&buf](std::size_t at, std::uint64_t v, int width) {
        for (int k = width - 1; k >= 0; --k) {
            buf[at + static_cast<std::size_t>(k)] = static_cast<char>('0' + v % 10);
            v /= 10;
        }
    };
    put(0, static_cast<std::uint64_t>(rem / 3600), 2);
    buf[2] = ':';
    put(3, static_cast<std::uint64_t>((rem / 60) % 60), 2);
    buf[5] = ':';
    put(6, static_cast<std::uint64_t>(rem % 60), 2);
    std::size_t len = 8;
    if (nanos != 0) {
        buf[len++] = '.';
        if (nanos % 1'000'000 == 0) {
            put(len, static_cast<std::uint64_t>(nanos / 1'000'000), 3);
            len += 3;
        } else if (nanos % 1000 == 0) {
            put(len, static_cast<std::uint64_t>(nanos / 1000), 6);
            len += 6;
        } else {
            put(len, static_cast<std::uint64_t>(nanos), 9);
            len += 9;
        }
    }
    out.append(buf, len);
    out += 'Z';
}

}  // namespace

namespace {

// A whole number of magnitude below 1e15 (not -0): its shortest round-trip
// form is its integer digits, which are much cheaper to write than to find
// by the shortest-digits search (sensor readings are often whole numbers).
// fmt writes such values the same way (tested in record_json_test).
bool integral_below_1e15(double d) {
    return d > -1e15 && d < 1e15 && d == static_cast<double>(static_cast<std::int64_t>(d)) &&
           (d != 0 || !std::signbit(d));
}

}  // namespace

void append_double(std::string& out, double d) {
    if (integral_below_1e15(d)) {
        append_int(out, static_cast<std::int64_t>(d));
        return;
    }
    char num[32];
    out.append(num, fmt::format_to(num, FMT_COMPILE("{}"), d));
}

void append_int(std::string& out, std::int64_t i) {
    const fmt::format_int digits(i);
    out.append(digits.data(), digits.size());
}

void append_field_value_json(std::string& out, const FieldValue& v, JsonDouble form) {
    if (const auto* d = std::get_if<double>(&v)) {
        if (!std::isfinite(*d)) {
            out += "null";  // JSON has no NaN/Inf
            return;
        }
        if (integral_below_1e15(*d)) {
            append_int(out, static_cast<std::int64_t>(*d));
            if (form == JsonDouble::KeepFraction) {
                out += ".0";
            }
            return;
        }
        char num[40];
        char* const end = fmt::format_to(num, FMT_COMPILE("{}"), *d);
        out.append(num, end);
        if (form == JsonDouble::Shortest) {
            return;
        }
        for (const char* c = num; c != end; ++c) {
            if (*c == '.' || *c == 'e') {
                return;
            }
        }
        out += ".0";
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        append_int(out, *i);
    } else if (const auto* b = std::get_if<bool>(&v)) {
        out += *b ? "true" : "false";
    } else {
        append_json_string(out, std::get<std::string>(v));
    }
}

namespace {

// {"name":value,...}: `value` writes each item's value.
template <typename Item, typename Value>
void append_object(std::string& out, const std::vector<Item>& items, Value value) {
    out += '{';
    bool comma = false;
    for (const auto& item : items) {
        if (comma) {
            out += ',';
        }
        comma = true;
        append_json_string(out, item.name);
        out += ':';
        value(item);
    }
    out += '}';
}

}  // namespace

void append_fields_json(std::string& out, const std::vector<Field>& fields, JsonDouble form) {
    append_object(out, fields, [&](const Field& f) { append_field_value_json(out, f.value, form); });
}

void append_tags_json(std::string& out, const std::vector<Tag>& tags) {
    append_object(out, tags, [&](const Tag& t) { append_json_string(out, t.value); });
}

void append_record_json(std::string& out, const Record& r, JsonDouble form) {
    out += "{\"time\":\"";
    append_rfc3339(out, r.time_ns);
    out += '"';
    if (!r.measurement.empty()) {
        out += ",\"measurement\":";
        append_json_string(out, r.measurement);
    }
    if (!r.origin.empty()) {
        out += ",\"origin\":";
        append_json_string(out, r.origin);
    }
    if (!r.tags.empty()) {
        out += ",\"tags\":";
        append_tags_json(out, r.tags);
    }
    out += ",\"fields\":";
    append_fields_json(out, r.fields, form);
    out += '}';
}

}  // namespace sluice
