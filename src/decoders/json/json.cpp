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
#include "text/text_value.hpp"
#include "text/json.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {

namespace {

constexpr std::size_t kMaxDepth = 64;

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

// SAX handler that writes records straight into the output vector: no DOM,
// and field names are built in one reused path buffer.
class Handler {
public:
    explicit Handler(std::string separator) : sep_(std::move(separator)) {}

    void reset(std::vector<Record>& out, const std::string& origin) {
        out_ = &out;
        origin_ = &origin;
        levels_.clear();
        path_.clear();
        error_.clear();
        top_array_ = false;
        top_index_ = 0;
        top_current_ = 0;
    }
    const std::string& error() const { return error_; }

    bool Null() {
        // null means "no value": nothing to store, but it still takes an
        // array index and is not a record.
        const Place p = begin_value();
        if (p == Place::RecordRoot) {
            error_ = fmt::format("json: element {} of the top-level array is not an object", top_current_);
            return false;
        }
        return p != Place::Invalid;
    }
    bool Bool(bool b) { return scalar(b); }
    bool Int(int i) { return scalar(std::int64_t{i}); }
    bool Uint(unsigned u) { return scalar(std::int64_t{u}); }
    bool Int64(std::int64_t i) { return scalar(i); }
    bool Uint64(std::uint64_t u) {
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return scalar(static_cast<double>(u));
        }
        return scalar(static_cast<std::int64_t>(u));
    }
    bool Double(double d) { return scalar(d); }
    // Every number, as RapidJSON checked it against JSON's grammar, by the
    // one rule of text/json.hpp.
    bool RawNumber(const char* s, rapidjson::SizeType len, bool) {
        std::string why;
        auto n = json_number(std::string_view(s, len), &why);
        if (!n) {
            error_ = "json: " + why;
            return false;
        }
        if (const auto* i = std::get_if<std::int64_t>(&*n)) {
            return scalar(*i);
        }
        return scalar(std::get<double>(*n));
    }
    bool String(const char* s, rapidjson::SizeType len, bool) {
        if (!valid_utf8(std::string_view(s, len))) {
            error_ = "json: invalid UTF-8 in a string";
            return false;
        }
        const Place p = begin_value();
        if (p == Place::Invalid) {
            return false;
        }
        Field& f = record().fields.emplace_back();
        f.name = path_;
        f.value.emplace<std::string>(s, len);
        return true;
    }

    bool StartObject() {
        const Place p = begin_value();
        if (p == Place::Invalid) {
            return false;
        }
        if (p == Place::RecordRoot) {
            Record& r = out_->emplace_back();
            r.origin = *origin_;
            r.fields.reserve(field_hint_);
            levels_.push_back({0, 0, false, true});
            return true;
        }
        return push_level(false);
    }
    bool Key(const char* s, rapidjson::SizeType len, bool) {
        if (!valid_utf8(std::string_view(s, len))) {
            error_ = "json: invalid UTF-8 in a key";
            return false;
        }
        const Level& l = levels_.back();
        path_.resize(l.prefix_len);
        if (!l.root) {
            path_ += sep_;
        }
        path_.append(s, len);
        return true;
    }
    bool EndObject(rapidjson::SizeType) {
        const bool root = levels_.back().root;
        levels_.pop_back();
        if (root) {
            Record& r = record();
            field_hint_ = std::max<std::size_t>(r.fields.size(), 4);
            if (auto err = take_time_field(r)) {
                error_ = "json: " + *err;
                return false;
            }
        }
        return true;
    }
    bool StartArray() {
        if (levels_.empty() && !top_array_) {
            top_array_ = true;
            return true;
        }
        const Place p = begin_value();
        if (p == Place::Invalid) {
            return false;
        }
        if (p == Place::RecordRoot) {
            error_ = fmt::format("json: element {} of the top-level array is not an object", top_current_);
            return false;
        }
        return push_level(true);
    }
    bool EndArray(rapidjson::SizeType) {
        if (levels_.empty()) {
            top_array_ = false;
            return true;
        }
        levels_.pop_back();
        return true;
    }

private:
    struct Level {
        std::size_t prefix_len;  // path_ length of this container's own name
        std::size_t index;       // next element index (arrays)
        bool array;
        bool root;  // the record's own object: its keys get no prefix
    };
    enum class Place { Invalid, RecordRoot, Member };

    Record& record() { return out_->back(); }

    // Works out where the next value goes and, inside arrays, its name.
    Place begin_value() {
        if (levels_.empty()) {
            // The document itself (parsing only starts at '{' or '[', so
            // it is an object) or an element of a top-level array.
            if (top_array_) {
                top_current_ = top_index_++;
            }
            return Place::RecordRoot;
        }
        Level& l = levels_.back();
        if (l.array) {
            path_.resize(l.prefix_len);
            path_ += sep_;
            char buf[24];
            const auto r = std::to_chars(buf, buf + sizeof buf, l.index);
            path_.append(buf, r.ptr);
            ++l.index;
        }
        return Place::Member;
    }

    bool push_level(bool array) {
        if (levels_.size() >= kMaxDepth) {
            error_ = fmt::format("json: nested deeper than {} levels", kMaxDepth);
            return false;
        }
        levels_.push_back({path_.size(), 0, array, false});
        return true;
    }

    template <class T>
    bool scalar(T v) {
        const Place p = begin_value();
        if (p == Place::Invalid) {
            return false;
        }
        if (p == Place::RecordRoot) {
            error_ = fmt::format("json: element {} of the top-level array is not an object", top_current_);
            return false;
        }
        Field& f = record().fields.emplace_back();
        f.name = path_;
        f.value.template emplace<T>(v);
        return true;
    }

    std::string sep_;
    std::vector<Record>* out_ = nullptr;
    const std::string* origin_ = nullptr;
    std::vector<Level> levels_;
    std::string path_;
    std::string error_;
    bool top_array_ = false;
    std::size_t top_index_ = 0;
    std::size_t top_current_ = 0;
    std::size_t field_hint_ = 4;
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
        d.options = {
            OptionSpec{.name = "separator",
                       .type = OptionType::String,
                       .default_value = ".",
                       .doc = "Joins nested object keys and array indices into one field name: "
                              "{\"a\":{\"b\":[1,2]}} gives fields a.b.0 and a.b.1.",
                       .min = 0,
                       .max = 8},
        };
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
