#include "text/payload.hpp"

#include <cmath>
#include <type_traits>

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "text/field_text.hpp"

namespace sluice::payload {
namespace {

// Line protocol escapes: measurement (comma, space), tag keys/values and
// field keys (comma, equals, space). A newline cannot be escaped at all, so
// it becomes a space rather than splitting the line.
void append_escaped(std::string& out, std::string_view s, bool measurement) {
    std::size_t run = 0;  // runs that need no escaping are appended at once
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool newline = c == '\n' || c == '\r';
        if (!newline && c != ',' && c != ' ' && (measurement || c != '=') && c != '\\') {
            continue;
        }
        out.append(s.data() + run, i - run);
        run = i + 1;
        if (newline) {
            out += ' ';
        } else {
            out += '\\';
            out += c;
        }
    }
    out.append(s.data() + run, s.size() - run);
}

void append_field_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
}

}  // namespace

std::optional<Format> parse_format(std::string_view name) {
    if (name == "json") {
        return Format::Json;
    }
    if (name == "influx") {
        return Format::Influx;
    }
    if (name == "raw") {
        return Format::Raw;
    }
    return std::nullopt;
}

bool append_influx_line(std::string& out, const Record& r, std::string* error) {
    const std::size_t start = out.size();
    append_escaped(out, r.measurement.empty() ? std::string_view("sluice") : std::string_view(r.measurement), true);
    for (const auto& t : r.tags) {
        // Line protocol has no way to write an empty tag value: leave the tag out.
        if (t.name.empty() || t.value.empty()) {
            continue;
        }
        out += ',';
        append_escaped(out, t.name, false);
        out += '=';
        append_escaped(out, t.value, false);
    }
    bool first = true;
    for (const auto& f : r.fields) {
        if (f.name.empty()) {
            continue;
        }
        if (const double* d = std::get_if<double>(&f.value); d != nullptr && !std::isfinite(*d)) {
            continue;  // NaN and infinities have no line-protocol spelling
        }
        out += first ? ' ' : ',';
        first = false;
        append_escaped(out, f.name, false);
        out += '=';
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    append_field_string(out, x);
                } else if constexpr (std::is_same_v<T, bool>) {
                    out += x ? "true" : "false";
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    append_int(out, x);
                    out += 'i';
                } else {
                    append_double(out, x);
                }
            },
            f.value);
    }
    if (first) {
        out.resize(start);
        if (error != nullptr) {
            *error = "record has no field that line protocol can carry";
        }
        return false;
    }
    out += ' ';
    append_int(out, r.time_ns);
    return true;
}

bool encode_payload(Format format, std::string_view raw_field, const Record& r, std::string& out,
                    std::string* error) {
    out.clear();
    return append_payload(format, raw_field, r, out, error);
}

bool append_payload(Format format, std::string_view raw_field, const Record& r, std::string& out,
                    std::string* error) {
    switch (format) {
    case Format::Json:
        append_record_json(out, r);
        return true;
    case Format::Influx:
        return append_influx_line(out, r, error);
    case Format::Raw:
        if (const Field* f = r.field(raw_field)) {
            append_field_text(out, f->value);
        } else {
            append_record_json(out, r);
        }
        return true;
    }
    return false;
}

std::vector<OptionSpec> option_specs() {
    return {
        {.name = "format", .type = OptionType::Enum, .default_value = "json",
         .doc = "Payload: json (the record as one JSON object), influx (line protocol), raw (the raw_field as is)",
         .choices = "json|influx|raw"},
        {.name = "raw_field", .type = OptionType::String, .default_value = "payload",
         .doc = "format = raw: the field sent as the payload (absent: the record's JSON)", .min = 1},
    };
}

}  // namespace sluice::payload
