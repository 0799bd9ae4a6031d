#pragma once
// Base64 (RFC 4648): the standard alphabet, or the URL-safe one ("-_"),
// with or without '=' padding. The one encoder of HTTP basic auth, the
// pushgateway's label paths, dead-letter payloads, binary values decoded
// from CBOR and MessagePack, and encrypted fields; and their one decoder.

#include <optional>
#include <string>
#include <string_view>

namespace sluice {

enum class Base64 { Standard, Url };

void append_base64(std::string& out, std::string_view data, Base64 alphabet = Base64::Standard, bool pad = true);

inline std::string base64(std::string_view data, Base64 alphabet = Base64::Standard, bool pad = true) {
    std::string out;
    append_base64(out, data, alphabet, pad);
    return out;
}

// The bytes of `text` in `alphabet`, '=' padding optional; nullopt for any
// other character, a misplaced '=' or a length no encoding has.
std::optional<std::string> decode_base64(std::string_view text, Base64 alphabet = Base64::Standard);

}  // namespace sluice
