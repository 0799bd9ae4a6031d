#pragma once
// Typing of values that arrive as text (CSV cells, logfmt values, scalar
// payloads, influx numbers). One set of rules, so the same text becomes the
// same field whichever decoder read it.

#include <optional>
#include <string>
#include <string_view>

#include "core/record.hpp"
#include "text/text.hpp"

namespace sluice {

// A number literal, never anything a person would not call a number: an
// optional sign, digits, an optional fraction and an optional exponent.
// Integers ([+-]digits) become int64 when they fit and double otherwise;
// everything else becomes double. Hex, "inf", "nan", "1.", ".", "1e" and
// values beyond double's range are nullopt.
std::optional<FieldValue> parse_number(std::string_view s);

// parse_number, but the result is always a double (influx floats).
std::optional<double> parse_double(std::string_view s);

// true/True/TRUE/false/False/FALSE.
std::optional<bool> parse_bool(std::string_view s);

// Number, else boolean, else the text itself. With `decimal_comma` a single
// ',' is the decimal point ("21,5" is 21.5); a '.' still works as well.
FieldValue typed_value(std::string_view s, bool decimal_comma = false);

// Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
// ASCII is checked eight bytes at a time.
bool valid_utf8(std::string_view s);
// `s` with each byte that starts no well-formed character replaced by
// U+FFFD, for outputs that must be UTF-8 (WebSocket text frames).
std::string replace_invalid_utf8(std::string_view s);

// `s` for an error message: at most `max` bytes (cut before a UTF-8
// character, never inside one), control bytes as \xNN, "..." appended when cut.
std::string excerpt(std::string_view s, std::size_t max = 40);

}  // namespace sluice
