#include "text/json.hpp"

#include <charconv>
#include <limits>
#include <system_error>

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace sluice {
namespace {

// For a number std::from_chars found out of range: too large (true) or too
// close to zero (false). Digits before the point plus the exponent decide.
bool huge_exponent(const char* s, const char* end) {
    const char* p = s;
    if (p != end && *p == '-') {
        ++p;
    }
    while (p != end && *p == '0') {
        ++p;
    }
    const char* digits = p;
    while (p != end && *p >= '0' && *p <= '9') {
        ++p;
    }
    long magnitude = static_cast<long>(p - digits);  // about the decimal exponent of the first significant digit
    if (magnitude == 0 && p != end && *p == '.') {
        ++p;
        while (p != end && *p == '0') {
            ++p;
            --magnitude;
        }
    }
    while (p != end && *p != 'e' && *p != 'E') {
        ++p;
    }
    long exp = 0;
    if (p != end) {
        ++p;
        const bool negative = p != end && *p == '-';
        if (p != end && (*p == '+' || *p == '-')) {
            ++p;
        }
        if (std::from_chars(p, end, exp).ec != std::errc()) {
            exp = std::numeric_limits<long>::max() / 2;  // more digits than a long: only the sign matters
        }
        if (negative) {
            exp = -exp;
        }
    }
    return magnitude + exp > 0;
}

// Builds a JsonValue from RapidJSON's events.
class TreeBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, TreeBuilder> {
public:
    explicit TreeBuilder(std::size_t max_depth) : max_depth_(max_depth) {}

    bool Null() { return add(JsonValue{nullptr}); }
    bool Bool(bool b) { return add(JsonValue{b}); }
    bool RawNumber(const char* s, rapidjson::SizeType len, bool) {
        auto n = json_number(std::string_view(s, len), &error_);
        if (!n) {
            return false;
        }
        if (const auto* i = std::get_if<std::int64_t>(&*n)) {
            return add(JsonValue{*i});
        }
        return add(JsonValue{std::get<double>(*n)});
    }
    bool String(const char* s, rapidjson::SizeType len, bool) { return add(JsonValue{std::string(s, len)}); }
    bool Key(const char* s, rapidjson::SizeType len, bool) {
        key_.assign(s, len);
        return true;
    }
    bool StartObject() { return open(JsonValue{std::make_shared<JsonValue::Object>()}); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool StartArray() { return open(JsonValue{std::make_shared<JsonValue::Array>()}); }
    bool EndArray(rapidjson::SizeType) { return close(); }

    std::optional<JsonValue> result;
    std::string error_;

private:
    // Adds a finished value to the innermost open container, or makes it
    // the result. Containers are added when they open: `open_` points into
    // the tree, which only grows at its innermost container.
    JsonValue* place(JsonValue v) {
        if (open_.empty()) {
            result = std::move(v);
            return &*result;
        }
        JsonValue& parent = *open_.back();
        if (auto* o = std::get_if<std::shared_ptr<JsonValue::Object>>(&parent.v)) {
            (*o)->emplace_back(key_, std::move(v));
            return &(*o)->back().second;
        }
        auto& a = std::get<std::shared_ptr<JsonValue::Array>>(parent.v);
        a->push_back(std::move(v));
        return &a->back();
    }
    bool add(JsonValue v) {
        place(std::move(v));
        return true;
    }
    bool open(JsonValue v) {
        if (open_.size() >= max_depth_) {
            error_ = fmt::format("nested deeper than {} levels", max_depth_);
            return false;
        }
        // The container's own element vectors move with it; the pointer
        // stays valid because elements live behind shared_ptr.
        open_.push_back(place(std::move(v)));
        return true;
    }
    bool close() {
        open_.pop_back();
        return true;
    }

    std::size_t max_depth_;
    std::vector<JsonValue*> open_;
    std::string key_;
};

}  // namespace

std::optional<FieldValue> json_number(std::string_view text, std::string* error) {
    const char* const s = text.data();
    const char* const end = s + text.size();
    // An integer parse stops at '.', 'e' or 'E': then it is a double.
    std::int64_t i = 0;
    if (const auto [at, ec] = std::from_chars(s, end, i); ec == std::errc() && at == end) {
        return FieldValue(i);
    }
    double d = 0;
    const auto [at, ec] = std::from_chars(s, end, d);
    if (ec == std::errc::result_out_of_range) {
        if (huge_exponent(s, end)) {
            if (error != nullptr) {
                *error = fmt::format("number {} is beyond a double's range", text.substr(0, 40));
            }
            return std::nullopt;
        }
        d = 0.0;
    } else if (ec != std::errc() || at != end) {
        if (error != nullptr) {
            *error = fmt::format("invalid number {}", text.substr(0, 40));
        }
        return std::nullopt;
    }
    return FieldValue(d);
}

const JsonValue* JsonValue::get(std::string_view key) const {
    if (const Object* o = object()) {
        for (const auto& [k, val] : *o) {
            if (k == key) {
                return &val;
            }
        }
    }
    return nullptr;
}

const JsonValue::Array* JsonValue::array() const {
    const auto* a = std::get_if<std::shared_ptr<Array>>(&v);
    return a != nullptr ? a->get() : nullptr;
}

const JsonValue::Object* JsonValue::object() const {
    const auto* o = std::get_if<std::shared_ptr<Object>>(&v);
    return o != nullptr ? o->get() : nullptr;
}

const std::string* JsonValue::string() const { return std::get_if<std::string>(&v); }

std::optional<double> JsonValue::number() const {
    if (const auto* d = std::get_if<double>(&v)) {
        return *d;
    }
    if (const auto* i = std::get_if<std::int64_t>(&v)) {
        return static_cast<double>(*i);
    }
    return std::nullopt;
}

std::optional<JsonValue> parse_json(std::string_view text, std::string* error, std::size_t max_depth) {
    // RapidJSON's iterative parser keeps nesting off the call stack; the
    // builder bounds it.
    constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseIterativeFlag |
                                rapidjson::kParseValidateEncodingFlag;
    TreeBuilder builder(max_depth);
    rapidjson::MemoryStream in(text.data(), text.size());
    rapidjson::Reader reader;
    const rapidjson::ParseResult res = reader.Parse<kFlags>(in, builder);
    if (res.IsError()) {
        if (error != nullptr) {
            *error = fmt::format("invalid JSON at offset {}: {}", res.Offset(),
                                 builder.error_.empty() ? rapidjson::GetParseError_En(res.Code()) : builder.error_);
        }
        return std::nullopt;
    }
    return std::move(builder.result);
}

}  // namespace sluice
