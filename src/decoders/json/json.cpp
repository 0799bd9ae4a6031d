#include "decoders/json/json.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "decoders/decoder_options.hpp"
#include "decoders/record_tree.hpp"
#include "text/text_value.hpp"
#include "text/json.hpp"

namespace sluice::decoders {

namespace {

// Numbers as text, converted by json_number() (text/json.hpp): a reading
// must come out as the number the device wrote, correctly rounded.
// In situ: strings are unescaped inside a copy of the payload instead of
// byte by byte into the reader's stack. UTF-8 is checked by the handler
// (records travel on as JSON and into SQLite as text), which is much cheaper
// than RapidJSON's per-character validation on mostly-ASCII payloads.
constexpr unsigned kParseFlags =
    rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseInsituFlag;

bool is_json_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::size_t skip_space(const std::string& s, std::size_t pos) {
    while (pos < s.size() && is_json_space(s[pos])) {
        ++pos;
    }
    return pos;
}

// SAX handler that writes records straight into the output vector through
// the rules every nested format shares (decoders/record_tree.hpp): no DOM,
// and field names are built in one reused path buffer.
class Handler {
public:
    explicit Handler(std::string separator) : tree_(std::move(separator), "json") {}

    void start_frame(std::size_t bytes) { tree_.start_frame(bytes); }
    void reset(std::vector<Record>& out, const std::string& origin) { tree_.reset(out, origin); }
    const std::string& error() const { return tree_.error(); }

    bool Null() { return tree_.null(); }
    bool Bool(bool b) { return tree_.boolean(b); }
    bool Int(int i) { return tree_.integer(i); }
    bool Uint(unsigned u) { return tree_.integer(u); }
    bool Int64(std::int64_t i) { return tree_.integer(i); }
    bool Uint64(std::uint64_t u) {
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return tree_.real(static_cast<double>(u));
        }
        return tree_.integer(static_cast<std::int64_t>(u));
    }
    bool Double(double d) { return tree_.real(d); }
    // Every number, as RapidJSON checked it against JSON's grammar, by the
    // one rule of text/json.hpp.
    bool RawNumber(const char* s, rapidjson::SizeType len, bool) {
        std::string why;
        auto n = json_number(std::string_view(s, len), &why);
        if (!n) {
            return tree_.fail(why);
        }
        if (const auto* i = std::get_if<std::int64_t>(&*n)) {
            return tree_.integer(*i);
        }
        return tree_.real(std::get<double>(*n));
    }
    bool String(const char* s, rapidjson::SizeType len, bool) {
        if (!valid_utf8(std::string_view(s, len))) {
            return tree_.fail("invalid UTF-8 in a string");
        }
        return tree_.string(std::string_view(s, len));
    }
    bool StartObject() { return tree_.start_object(); }
    bool Key(const char* s, rapidjson::SizeType len, bool) {
        if (!valid_utf8(std::string_view(s, len))) {
            return tree_.fail("invalid UTF-8 in a key");
        }
        return tree_.key(std::string_view(s, len));
    }
    bool EndObject(rapidjson::SizeType) { return tree_.end_object(); }
    bool StartArray() { return tree_.start_array(); }
    bool EndArray(rapidjson::SizeType) { return tree_.end_array(); }

private:
    RecordTree tree_;
};

class JsonDecoder final : public Decoder {
public:
    explicit JsonDecoder(const JsonConfig& config) : handler_(config.separator) {}

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        const std::size_t pos = skip_space(frame.payload, 0);
        if (pos == frame.payload.size() || (frame.payload[pos] != '{' && frame.payload[pos] != '[')) {
            return DecodeStatus::NotMine;
        }
        const DecodeStatus st = parse(frame, pos, out, error);
        // One huge frame must not pin its copy for the life of the source.
        if (scratch_.capacity() > kKeepScratch) {
            scratch_ = std::string();
        }
        return st;
    }

private:
    static constexpr std::size_t kKeepScratch = 256 * 1024;

    DecodeStatus parse(const Frame& frame, std::size_t pos, std::vector<Record>& out, std::string& error) {
        const std::string& p = frame.payload;
        const std::size_t first = out.size();
        handler_.start_frame(p.size());
        handler_.reset(out, frame.origin);
        scratch_.assign(p);  // parsed in place; reuses its capacity
        // Several documents in one frame (NDJSON chunks) are read in turn.
        while (true) {
            rapidjson::InsituStringStream in(scratch_.data() + pos);
            const rapidjson::ParseResult res = reader_.Parse<kParseFlags>(in, handler_);
            if (res.IsError()) {
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                if (!handler_.error().empty()) {
                    error = fmt::format("{} (offset {})", handler_.error(), pos + res.Offset());
                } else {
                    std::string_view msg = rapidjson::GetParseError_En(res.Code());
                    if (msg.ends_with('.')) {
                        msg.remove_suffix(1);
                    }
                    error = fmt::format("json: {} (offset {})", msg, pos + res.Offset());
                }
                return DecodeStatus::Broken;
            }
            pos = skip_space(p, pos + in.Tell());
            if (pos == p.size()) {
                return DecodeStatus::Ok;
            }
            if (p[pos] != '{' && p[pos] != '[') {
                out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
                error = fmt::format("json: unexpected '{}' after the document (offset {})",
                                    excerpt(std::string_view(p).substr(pos, 1)), pos);
                return DecodeStatus::Broken;
            }
            handler_.reset(out, frame.origin);
        }
    }

    Handler handler_;
    rapidjson::Reader reader_;  // keeps its parse stack between frames
    std::string scratch_;
};

}  // namespace

std::unique_ptr<Decoder> make_json_decoder(const JsonConfig& config) {
    return std::make_unique<JsonDecoder>(config);
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_json() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "json";
        d.summary = "JSON objects (or arrays of them, or several per frame), nested keys flattened to a.b.c";
        d.options = {decoders::separator_option_spec()};
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::JsonConfig c;
            c.separator = decoders::option_string(o, "separator", ".");
            return decoders::make_json_decoder(c);
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
