// Encrypted field values as the decrypt stage meets them (anything a record
// from outside holds), on arbitrary bytes: the envelope taken apart, its
// base64 decoded, and opened with a fixed key (keys/field_crypto.hpp); and a
// master key's text (keys::parse_key). A value the fixed key sealed opens
// to what was sealed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/field_crypto.hpp"
#include "text/base64.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    static const sluice::keys::Aead aead([] {
        sluice::keys::Key k{};
        k.fill(7);
        return k;
    }());
    if (const auto e = sluice::keys::parse_envelope(text)) {
        sluice::FieldValue v;
        (void)sluice::keys::open_value(aead, *e, v);
    }
    for (const auto a : {sluice::Base64::Standard, sluice::Base64::Url}) {
        if (const auto bytes = sluice::decode_base64(text, a)) {
            // Canonical: encoding the bytes again gives the text back (with or without padding).
            const std::string again = sluice::base64(*bytes, a, text.ends_with('='));
            if (again != text && !(bytes->empty() && text.find_first_not_of('=') == std::string_view::npos)) {
                __builtin_trap();
            }
        }
    }
    std::string error;
    (void)sluice::keys::parse_key(text, error);
    // Round trip of the text as a value.
    std::string env;
    sluice::keys::seal_value(aead, "0011223344556677", sluice::FieldValue(std::string(text.substr(0, 256))), env);
    sluice::FieldValue back;
    if (!sluice::keys::open_value(aead, *sluice::keys::parse_envelope(env), back) ||
        back != sluice::FieldValue(std::string(text.substr(0, 256)))) {
        __builtin_trap();
    }
    return 0;
}
