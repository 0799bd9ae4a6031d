#include "core/record_json.hpp"

#include <cmath>
#include <ctime>
#include <iterator>

#include <fmt/format.h>

namespace sluice {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (unsigned char c : s) {
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
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
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

}  // namespace

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
    std::int64_t y;
    unsigned m, d;
    civil_from_days(days, y, m, d);
    auto it = std::back_inserter(out);
    fmt::format_to(it, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d, rem / 3600, (rem / 60) % 60, rem % 60);
    if (nanos != 0) {
        if (nanos % 1'000'000 == 0) {
            fmt::format_to(it, ".{:03}", nanos / 1'000'000);
        } else if (nanos % 1000 == 0) {
            fmt::format_to(it, ".{:06}", nanos / 1000);
        } else {
            fmt::format_to(it, ".{:09}", nanos);
        }
    }
    out += 'Z';
}

void append_record_json(std::string& out, const Record& r) {
    auto it = std::back_inserter(out);
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
        out += ",\"tags\":{";
        bool comma = false;
        for (const auto& t : r.tags) {
            if (comma) {
                out += ',';
            }
            comma = true;
            append_json_string(out, t.name);
            out += ':';
            append_json_string(out, t.value);
        }
        out += '}';
    }
    out += ",\"fields\":{";
    bool comma = false;
    for (const auto& f : r.fields) {
        if (comma) {
            out += ',';
        }
        comma = true;
        append_json_string(out, f.name);
        out += ':';
        if (const auto* d = std::get_if<double>(&f.value)) {
            if (std::isfinite(*d)) {
                fmt::format_to(it, "{}", *d);
            } else {
                out += "null";  // JSON has no NaN/Inf
            }
        } else if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
            fmt::format_to(it, "{}", *i);
        } else if (const auto* b = std::get_if<bool>(&f.value)) {
            out += *b ? "true" : "false";
        } else {
            append_json_string(out, std::get<std::string>(f.value));
        }
    }
    out += "}}";
}

}  // namespace sluice
