#pragma once
// The one JSON reader. Every part that reads JSON from outside (the json
// decoder, table values, CrateDB's answers) parses with RapidJSON's SAX
// reader and converts numbers with json_number(), so the same text gives the
// same value everywhere and nesting is bounded (tests/fuzz/json_value).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/record.hpp"

namespace sluice {

// A JSON number as RapidJSON checked it against JSON's grammar, converted
// by std::from_chars (correctly rounded; RapidJSON 1.1's own full-precision
// path turned 1844674407379510921888888881e308 into -5.7e-282): an integer
// that fits int64 stays one, anything else is a double. Beyond a double's
// range is an error; closer to zero than the smallest double is 0.
std::optional<FieldValue> json_number(std::string_view text, std::string* error);

// A small JSON tree, for answers and documents that are read whole (not for
// the decoder's hot path, which streams).
struct JsonValue {
    using Array = std::vector<JsonValue>;
    using Object = std::vector<std::pair<std::string, JsonValue>>;
    std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, std::shared_ptr<Array>,
                 std::shared_ptr<Object>>
        v;

    const JsonValue* get(std::string_view key) const;  // object member (the first of that name) or nullptr
    const Array* array() const;
    const Object* object() const;
    const std::string* string() const;
    std::optional<double> number() const;  // integers too
};

inline constexpr std::size_t kJsonMaxDepth = 64;

// The whole of `text` as one JSON value; nullopt with `error` (which gives
// the byte offset) when it is not, or nests deeper than `max_depth`.
std::optional<JsonValue> parse_json(std::string_view text, std::string* error,
                                    std::size_t max_depth = kJsonMaxDepth);

}  // namespace sluice
