#include "decoders/influx/influx.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "decoders/decoder_options.hpp"
#include "decoders/lines.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {

namespace {

// What one line turned out to be.

// Backslash escapes only the characters of `escapable`; any other backslash
// is a literal one (as InfluxDB reads it).
void unescape_into(std::string& out, std::string_view raw, std::string_view escapable) {
    if (raw.find('\\') == std::string_view::npos) {
        out.assign(raw);
        return;
    }
    out.clear();
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size() && escapable.find(raw[i + 1]) != std::string_view::npos) {
            ++i;
        }
        out += raw[i];
    }
}

// A byte set for the scanners: string_view::find per byte is a memchr call
// per byte, which was most of the decoder's time.
class Stops {
public:
    constexpr explicit Stops(std::string_view chars) {
        for (char c : chars) {
            set_[static_cast<unsigned char>(c)] = true;
        }
        set_[static_cast<unsigned char>('\\')] = true;
    }
    constexpr bool stops_or_escape(char c) const { return set_[static_cast<unsigned char>(c)]; }

private:
    bool set_[256] = {};
};

// Index of the first unescaped character of the set at or after `i`, or size.
std::size_t scan_to(std::string_view s, std::size_t i, const Stops& stops) {
    const std::size_t n = s.size();
    while (i < n) {
        const char c = s[i];
        if (stops.stops_or_escape(c)) {
            if (c != '\\') {
                return i;
            }
            if (i + 1 < n) {
                i += 2;
                continue;
            }
        }
        ++i;
    }
    return n;
}

constexpr Stops kSpace(" ");
constexpr Stops kCommaSpace(", ");
constexpr Stops kEqCommaSpace("=, ");
constexpr Stops kEqQuote("=\"");

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class LineParser {
public:
    // `line` is the whole line as sent (so columns match what the user
    // sees); the series key starts at `start`, after any leading blanks.
    LineParser(std::string_view line, std::size_t start, EpochUnit precision)
        : line_(line), start_(start), precision_(precision) {}

    // Fills `r` (a fresh record) from the line. On NotMine/Broken `message`
    // says why.
    LineVerdict parse(Record& r, std::string& message) {
        const std::string_view s = line_;
        const std::size_t n = s.size();

        // Shape first: anything that is not "series fieldkey=..." is some
        // other format, whatever else is wrong with it.
        const std::size_t series_end = scan_to(s, start_, kSpace);
        if (series_end == n) {
            message = "no field set";
            return LineVerdict::NotMine;
        }
        const std::size_t meas_end = scan_to(s, start_, kCommaSpace);
        const std::string_view meas_raw = s.substr(start_, meas_end - start_);
        if (meas_raw.empty() || scan_to(meas_raw, 0, kEqQuote) != meas_raw.size()) {
            // key=value or a quote before the first space: logfmt, free text.
            message = "not line protocol";
            return LineVerdict::NotMine;
        }
        std::size_t i = series_end;
        while (i < n && s[i] == ' ') {
            ++i;
        }
        const std::size_t first_eq = scan_to(s, i, kEqCommaSpace);
        if (first_eq == n || s[first_eq] != '=') {
            message = "no field set";
            return LineVerdict::NotMine;
        }

        unescape_into(r.measurement, meas_raw, ", ");

        // Tags. Errors are kept until the timestamp part has confirmed the shape.
        std::size_t t = meas_end;
        while (t < series_end && s[t] == ',') {
            ++t;
            const std::size_t key_end = scan_to(s, t, kEqCommaSpace);
            if (key_end >= series_end || s[key_end] != '=') {
                defer(fmt::format("tag '{}' at column {} has no value", excerpt(s.substr(t, key_end - t)), t + 1));
                t = scan_to(s, t, kCommaSpace);
                continue;
            }
            const std::size_t val_end = scan_to(s, key_end + 1, kCommaSpace);
            if (key_end == t) {
                defer(fmt::format("empty tag key at column {}", t + 1));
            } else if (val_end == key_end + 1) {
                defer(fmt::format("tag '{}' at column {} has no value", excerpt(s.substr(t, key_end - t)), t + 1));
            } else {
                Tag& tag = r.tags.emplace_back();
                unescape_into(tag.name, s.substr(t, key_end - t), ",= ");
                unescape_into(tag.value, s.substr(key_end + 1, val_end - key_end - 1), ",= ");
            }
            t = val_end;
        }

        // Fields.
        while (true) {
            const std::size_t key_start = i;
            const std::size_t key_end = scan_to(s, i, kEqCommaSpace);
            if (key_end == n || s[key_end] != '=') {
                defer(fmt::format("field '{}' at column {} has no value", excerpt(s.substr(key_start, key_end - key_start)),
                                  key_start + 1));
                i = key_end;
            } else {
                const std::string_view key_raw = s.substr(key_start, key_end - key_start);
                i = key_end + 1;
                if (key_raw.empty()) {
                    defer(fmt::format("empty field name at column {}", key_start + 1));
                }
                if (i < n && s[i] == '"') {
                    if (!string_value(r, key_raw, i)) {
                        message = *error_;
                        return LineVerdict::Broken;
                    }
                } else {
                    const std::size_t val_end = scan_to(s, i, kCommaSpace);
                    typed_field(r, key_raw, s.substr(i, val_end - i), i);
                    i = val_end;
                }
            }
            if (i < n && s[i] == ',') {
                ++i;
                continue;
            }
            break;
        }
        if (i < n && s[i] != ' ') {
            message = fmt::format("unexpected '{}' at column {}", excerpt(s.substr(i, 1)), i + 1);
            return LineVerdict::Broken;
        }

        // Timestamp.
        while (i < n && s[i] == ' ') {
            ++i;
        }
        if (i < n) {
            const std::size_t ts_end = scan_to(s, i, kSpace);
            const std::string_view ts = s.substr(i, ts_end - i);
            std::size_t rest = ts_end;
            while (rest < n && s[rest] == ' ') {
                ++rest;
            }
            const bool numeric = is_digit(ts[0]) || (ts[0] == '-' && ts.size() > 1 && is_digit(ts[1]));
            if (!numeric) {
                // "started port=8080 mode=fast": more words, not a timestamp.
                message = "text after the field set is not a timestamp";
                return LineVerdict::NotMine;
            }
            if (rest < n) {
                defer(fmt::format("unexpected '{}' after the timestamp at column {}", excerpt(s.substr(rest)), rest + 1));
            } else {
                std::int64_t v = 0;
                auto [ptr, ec] = std::from_chars(ts.data(), ts.data() + ts.size(), v);
                if (ptr != ts.data() + ts.size()) {
                    defer(fmt::format("timestamp '{}' at column {} is not an integer", excerpt(ts), i + 1));
                } else if (ec != std::errc()) {
                    defer(fmt::format("timestamp '{}' at column {} is out of range", excerpt(ts), i + 1));
                } else if (auto ns = epoch_to_ns(v, precision_)) {
                    r.time_ns = *ns;
                } else {
                    defer(fmt::format("timestamp '{}' at column {} is out of range", excerpt(ts), i + 1));
                }
            }
        }
        if (error_) {
            message = std::move(*error_);
            return LineVerdict::Broken;
        }
        return LineVerdict::Record;
    }

private:
    void defer(std::string msg) {
        if (!error_) {
            error_ = std::move(msg);
        }
    }

    Field& add_field(Record& r, std::string_view key_raw) {
        Field& f = r.fields.emplace_back();
        unescape_into(f.name, key_raw, ",= ");
        return f;
    }

    // A quoted string starting at s[i] == '"'; moves i past the closing quote.
    bool string_value(Record& r, std::string_view key_raw, std::size_t& i) {
        const std::string_view s = line_;
        const std::size_t start = i;
        std::string value;
        std::size_t j = i + 1;
        while (j < s.size()) {
            const char c = s[j];
            if (c == '\\' && j + 1 < s.size() && (s[j + 1] == '"' || s[j + 1] == '\\')) {
                value += s[j + 1];
                j += 2;
                continue;
            }
            if (c == '"') {
                break;
            }
            value += c;
            ++j;
        }
        if (j >= s.size()) {
            defer(fmt::format("unterminated string value of field '{}' at column {}", excerpt(key_raw), start + 1));
            return false;
        }
        add_field(r, key_raw).value = std::move(value);
        i = j + 1;
        return true;
    }

    void typed_field(Record& r, std::string_view key_raw, std::string_view v, std::size_t col) {
        if (v.empty()) {
            defer(fmt::format("field '{}' at column {} has no value", excerpt(key_raw), col + 1));
            return;
        }
        const char last = v.back();
        if (last == 'i' || last == 'u') {
            const std::string_view digits = v.substr(0, v.size() - 1);
            if (last == 'i') {
                std::int64_t x = 0;
                auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x);
                if (!digits.empty() && ptr == digits.data() + digits.size() && ec == std::errc()) {
                    add_field(r, key_raw).value = x;
                    return;
                }
                if (ec == std::errc::result_out_of_range) {
                    defer(fmt::format("integer '{}' at column {} is out of range", excerpt(v), col + 1));
                    return;
                }
            } else {
                std::uint64_t x = 0;
                auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x);
                if (!digits.empty() && is_digit(digits[0]) && ptr == digits.data() + digits.size() &&
                    ec == std::errc()) {
                    if (x <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                        add_field(r, key_raw).value = static_cast<std::int64_t>(x);
                    } else {
                        add_field(r, key_raw).value = static_cast<double>(x);
                    }
                    return;
                }
                if (ec == std::errc::result_out_of_range) {
                    defer(fmt::format("unsigned '{}' at column {} is out of range", excerpt(v), col + 1));
                    return;
                }
            }
            defer(fmt::format("field value '{}' at column {} is not a number", excerpt(v), col + 1));
            return;
        }
        if (auto d = parse_double(v)) {
            add_field(r, key_raw).value = *d;
            return;
        }
        if (v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE") {
            add_field(r, key_raw).value = true;
            return;
        }
        if (v == "f" || v == "F" || v == "false" || v == "False" || v == "FALSE") {
            add_field(r, key_raw).value = false;
            return;
        }
        defer(fmt::format("field value '{}' at column {} is not a number", excerpt(v), col + 1));
    }

    std::string_view line_;
    std::size_t start_;
    EpochUnit precision_;
    std::optional<std::string> error_;
};

class InfluxDecoder final : public Decoder {
public:
    explicit InfluxDecoder(const InfluxConfig& config) : precision_(config.precision) {}

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        return decode_lines("influx", frame, out, error, [this](std::string_view line, Record& r, std::string& message) {
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            std::size_t lead = 0;
            while (lead < line.size() && (line[lead] == ' ' || line[lead] == '\t')) {
                ++lead;
            }
            if (lead == line.size()) {
                return LineVerdict::Blank;
            }
            if (line[lead] == '#') {
                return LineVerdict::Comment;
            }
            while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
                line.remove_suffix(1);
            }
            return LineParser(line, lead, precision_).parse(r, message);
        });
    }

private:
    EpochUnit precision_;
};

}  // namespace

std::unique_ptr<Decoder> make_influx_decoder(const InfluxConfig& config) {
    return std::make_unique<InfluxDecoder>(config);
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_influx() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "influx";
        d.summary = "InfluxDB line protocol: measurement,tag=v field=1.5,n=3i,s=\"text\" [timestamp]";
        d.options = {
            OptionSpec{.name = "precision",
                       .type = OptionType::Enum,
                       .default_value = "auto",
                       .doc = "Unit of the line timestamp. auto: by magnitude (below 1e11 seconds, below 1e14 "
                              "milliseconds, below 1e17 microseconds, else nanoseconds).",
                       .choices = "auto|s|ms|us|ns"},
        };
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::InfluxConfig c;
            const std::string p = decoders::option_string(o, "precision", "auto");
            const auto unit = decoders::parse_epoch_unit(p);
            if (!unit) {
                throw ConfigError(fmt::format("precision '{}' is not one of auto, s, ms, us, ns", p));
            }
            c.precision = *unit;
            return decoders::make_influx_decoder(c);
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
