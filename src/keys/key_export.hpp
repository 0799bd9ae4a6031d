#pragma once
// The document `sluice keys export` writes and `sluice keys import` reads:
// a key store's data keys for another store (a backend's, a gateway's
// replacement), each wrapped (AES-256-GCM) by a transport key, never in
// clear, with the store's pseudonym key (wrapped too: stores that share it
// give a subject the same pseudonym) and the keys forgotten there (so
// importing a gateway's export also forgets on the backend what the gateway
// forgot). One JSON object, described in docs/privacy.md ("Moving keys"):
//
//   {"format":"sluice-keys-v1","exported_ns":N,"transport_check":"<hex>",
//    "pseudonym_check":"<hex>","pseudonym_key":"<b64url>",
//    "keys":[{"id":"<16 hex>","pseudonym":"..","created_ns":N,"wrapped":"<b64url>"}],
//    "forgotten":[{"id":"<16 hex>","pseudonym":"..","forgotten_ns":N,"by":".."}],
//    "mac":"<hex>"}
//
// `mac` authenticates the whole document (HMAC-SHA256 under a key derived
// from the transport key, over the document as written without it): a
// forgotten list, a key or a time changed on the way is refused. An export
// of one subject leaves the pseudonym key out (it would let its holder
// pseudonymize anyone); `pseudonym_check` says which one it was made with.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/field_crypto.hpp"

namespace sluice::keys {

inline constexpr std::string_view kExportFormat = "sluice-keys-v1";
// An export larger than this is refused before it is parsed.
inline constexpr std::size_t kMaxExportBytes = 64 * 1024 * 1024;

struct KeyExport {
    struct WrappedKey {
        std::string id;
        std::string pseudonym;
        std::int64_t created_ns = 0;
        std::string wrapped;  // bytes: nonce, ciphertext, tag
    };
    struct ForgottenKey {
        std::string id;
        std::string pseudonym;
        std::int64_t forgotten_ns = 0;
        std::string by;
    };
    std::int64_t exported_ns = 0;
    std::string transport_check;  // hex HMAC of a label under the transport key
    std::string pseudonym_check;  // hex HMAC of a label under the pseudonym key
    std::string pseudonym_key;    // wrapped; empty in an export of one subject
    std::vector<WrappedKey> keys;
    std::vector<ForgottenKey> forgotten;
    std::string mac;  // hex; empty while it is computed
};

// Additional authenticated data of the wrappings, and the check that tells
// a wrong transport key from a damaged export.
std::string export_key_aad(std::string_view id, std::string_view pseudonym);
inline constexpr std::string_view kExportPseudonymAad = "sluice key export v1: pseudonym key";
std::string transport_check(const Key& transport);
std::string pseudonym_check(const Key& pseudonym_key);
// The document's MAC: over write_key_export of `e` with its mac empty.
std::string export_mac(const KeyExport& e, const Key& transport);

std::string write_key_export(const KeyExport& e);
// Nullopt with the reason when `text` is not such a document (wrong format,
// a member missing or of the wrong type, an id that is not 16 hex digits,
// bad base64url, more than the size bound).
std::optional<KeyExport> parse_key_export(std::string_view text, std::string* error);

}  // namespace sluice::keys
