#include "decoders/logfmt/logfmt.hpp"

#include <string_view>

#include <fmt/format.h>

#include "decoders/lines.hpp"
#include "text/text_value.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {

namespace {

bool is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-' || c == ':' || c == '/';
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// One line: key=value, key="quoted \"value\"" and bare keys (true).
LineVerdict parse_line(std::string_view s, Record& r, std::string& message) {
    std::size_t i = 0;
    const std::size_t n = s.size();
    std::size_t pairs = 0;
    while (true) {
        while (i < n && is_blank(s[i])) {
            ++i;
        }
        if (i == n) {
            break;
        }
        const std::size_t key_start = i;
        while (i < n && is_key_char(s[i])) {
            ++i;
        }
        const std::string_view key = s.substr(key_start, i - key_start);
        if (key.empty() || (i < n && s[i] != '=' && !is_blank(s[i]))) {
            message = fmt::format("'{}' at column {} cannot be part of a key", excerpt(s.substr(i, 1)), i + 1);
            return LineVerdict::NotMine;
        }
        if (i == n || is_blank(s[i])) {
            r.fields.push_back(Field{std::string(key), FieldValue{true}});
            continue;
        }
        ++i;  // '='
        ++pairs;
        if (i < n && s[i] == '"') {
            const std::size_t quote_col = i + 1;
            std::string value;
            ++i;
            bool closed = false;
            while (i < n) {
                const char c = s[i];
                if (c == '"') {
                    closed = true;
                    ++i;
                    break;
                }
                if (c == '\\' && i + 1 < n) {
                    const char e = s[i + 1];
                    switch (e) {
                        case '"':
                        case '\\':
                            value += e;
                            break;
                        case 'n':
                            value += '\n';
                            break;
                        case 't':
                            value += '\t';
                            break;
                        case 'r':
                            value += '\r';
                            break;
                        default:
                            value += '\\';
                            value += e;
                            break;
                    }
                    i += 2;
                    continue;
                }
                value += c;
                ++i;
            }
            if (!closed) {
                message = fmt::format("unterminated quote in the value of '{}' at column {}", excerpt(key), quote_col);
                return LineVerdict::Broken;
            }
            if (i < n && !is_blank(s[i])) {
                message = fmt::format("unexpected '{}' after the quoted value of '{}' at column {}",
                                      excerpt(s.substr(i, 1)), excerpt(key), i + 1);
                return LineVerdict::Broken;
            }
            // A quoted value is text the writer chose to quote, but it is
            // typed like any other so "21.5" and 21.5 mean the same.
            if (!value.empty()) {
                r.fields.push_back(Field{std::string(key), typed_value(value)});
            }
            continue;
        }
        const std::size_t v_start = i;
        while (i < n && !is_blank(s[i])) {
            ++i;
        }
        const std::string_view v = s.substr(v_start, i - v_start);
        if (!v.empty()) {
            r.fields.push_back(Field{std::string(key), typed_value(v)});
        }
    }
    if (pairs == 0) {
        message = "no key=value pair";
        return LineVerdict::NotMine;
    }
    return LineVerdict::Record;
}

class LogfmtDecoder final : public Decoder {
public:
    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        return decode_lines("logfmt", frame, out, error, [](std::string_view line, Record& r, std::string& message) {
            if (trim(line).empty()) {
                return LineVerdict::Blank;
            }
            const LineVerdict v = parse_line(line, r, message);
            if (v == LineVerdict::Record) {
                if (auto err = take_time_field(r)) {
                    message = std::move(*err);
                    return LineVerdict::Broken;
                }
            }
            return v;
        });
    }
};

}  // namespace

std::unique_ptr<Decoder> make_logfmt_decoder() { return std::make_unique<LogfmtDecoder>(); }

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_logfmt() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "logfmt";
        d.summary = "key=value pairs (key=\"quoted value\", bare keys are true), one record per line";
        d.make_decoder = [](const Options&) -> std::unique_ptr<Decoder> { return decoders::make_logfmt_decoder(); };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
