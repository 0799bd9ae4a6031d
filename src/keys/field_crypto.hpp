#pragma once
// Field encryption for personal data (the encrypt and decrypt stages,
// `sluice keys`): AES-256-GCM from mbedTLS, keys from the kernel's random
// source, keyed pseudonyms (HMAC-SHA256), and the envelope an encrypted
// value travels in:
//
//   enc:v1:<key id>:<nonce>:<ciphertext and tag>
//
// <key id> is the data key's id (16 hex digits); <nonce> the 12-byte GCM
// nonce and <ciphertext and tag> the ciphertext followed by the 16-byte tag,
// both base64url without padding. The additional authenticated data is
// "enc:v1:<key id>", so a value cannot be moved to another key's envelope.
// The plaintext is one type byte and the value: 's' and the text, 'i' and
// the integer in decimal, 'd' and the double in its shortest round-trip
// decimal form, 'b' and "true" or "false". docs/privacy.md has the format
// for consumers that decrypt elsewhere.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice::keys {

inline constexpr std::size_t kKeyBytes = 32;
using Key = std::array<unsigned char, kKeyBytes>;

inline constexpr std::string_view kEnvelopePrefix = "enc:v1:";

// Bytes from the kernel's random source (getrandom), read ahead in blocks.
// Throws std::runtime_error if the kernel has none to give.
void random_bytes(std::span<unsigned char> out);
Key random_key();

// A key as written in a secret: 64 hex digits, or base64 of 32 bytes
// (whitespace around it ignored). Nullopt with `error` otherwise.
std::optional<Key> parse_key(std::string_view text, std::string& error);

std::array<unsigned char, 32> hmac_sha256(std::span<const unsigned char> key, std::string_view data);

// AES-256-GCM with one key (the expanded key kept: set up once per key).
class Aead {
public:
    explicit Aead(const Key& key);
    ~Aead();
    Aead(const Aead&) = delete;
    Aead& operator=(const Aead&) = delete;

    // Appends nonce (12 bytes, random) || ciphertext || tag (16 bytes).
    void seal(std::string_view plain, std::string_view aad, std::string& out) const;
    // The plaintext of `sealed`; false when it was not sealed with this key
    // and `aad` (or is damaged).
    bool open(std::string_view sealed, std::string_view aad, std::string& plain) const;

private:
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
};

// `v` sealed into its envelope under the data key `key_id`.
void seal_value(const Aead& aead, std::string_view key_id, const FieldValue& v, std::string& out);

// An envelope taken apart (views into the text).
struct Envelope {
    std::string_view key_id;
    std::string_view nonce;   // base64url
    std::string_view sealed;  // base64url: ciphertext and tag
};
// Nullopt when `text` is not an envelope of this version.
std::optional<Envelope> parse_envelope(std::string_view text);
// The value in `e`; false when the key does not open it (or it is damaged).
bool open_value(const Aead& aead, const Envelope& e, FieldValue& out);

// Whether a field is listed: by its name, or by a prefix ending in '*'
// ("gps.*"): the `fields` options of the encrypt and decrypt stages.
bool field_listed(const std::vector<std::string>& patterns, std::string_view name);

}  // namespace sluice::keys
