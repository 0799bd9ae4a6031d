#pragma once
// The key store of the encrypt and decrypt stages: data keys per data
// subject, created on first use (and replaced by a new one after a day or
// 2^28 values, so that no key meets the random-nonce limit of AES-GCM),
// kept in SQLite (`<data_dir>/keys.db` by default) wrapped (AES-256-GCM)
// by the master key, which comes from a secret and is never stored. A
// subject is known only by its pseudonym (HMAC-SHA256 of its value under a
// random pseudonym key, itself kept wrapped), so the store never holds a
// name. Forgetting a subject deletes its data keys, with the deleted bytes
// overwritten in the file and its write-ahead log: everything encrypted
// with them, wherever it went, cannot be read any more
// ("crypto-shredding"); an audit row says which key, when and by whom.
//
// A data key is committed (synchronous=FULL) before the first value
// encrypted with it can reach the buffer, so a power cut never leaves
// records whose key was lost. The file is never moved aside or recreated
// when damaged: that would lose every key in it; the error is reported.

#include <chrono>
#include <cstdint>
#include <span>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "keys/field_crypto.hpp"

namespace sluice::keys {

class KeyStore {
public:
    // Opens the store at `path` (creating it and its pseudonym key when
    // `create` and it does not exist). Throws std::runtime_error naming the
    // file when it cannot be opened, does not exist (and !create), or when
    // `master` is not the key it was made with.
    KeyStore(const std::filesystem::path& path, const Key& master, bool create = true);
    ~KeyStore();

    // The subject's pseudonym: base64url of the first 16 bytes of
    // HMAC-SHA256(pseudonym key, subject). Never touches the file.
    std::string pseudonym(std::string_view subject) const;

    struct DataKey {
        std::string id;  // 16 hex digits
        Key key;
        std::int64_t created_ns = 0;
    };
    struct KeyRequest {
        std::string pseudonym;
        bool fresh = false;  // a new key even if the subject has a young one
    };
    struct KeyResult {
        std::optional<DataKey> key;
        std::string error;  // why there is none (the store failed, a damaged key)
        bool created = false;
    };
    // A data key for each request: the subject's newest key when it is
    // younger than `max_age`, else a new one. The new keys of one call are
    // made in one transaction (one disk sync), committed before this
    // returns. Never throws: a failure is each affected result's error.
    std::vector<KeyResult> keys_for(std::span<const KeyRequest> requests, std::chrono::nanoseconds max_age);
    enum class Lookup { Found, Forgotten, Unknown };
    // The data key with this id.
    Lookup key_by_id(std::string_view id, Key& out);

    // Deletes every data key of `subject` (a subject's value, not its
    // pseudonym), records who asked, and wipes the deleted bytes from the
    // file and its write-ahead log; false when it has none.
    bool forget(std::string_view subject, std::string_view by);

    struct Entry {
        std::string pseudonym;
        std::string key_id;
        std::int64_t created_ns = 0;
    };
    std::vector<Entry> list();
    struct Forgotten {
        std::string pseudonym;
        std::string key_id;
        std::int64_t forgotten_ns = 0;
        std::string by;
    };
    std::vector<Forgotten> forgotten();

    // Wraps every data key and the pseudonym key with `new_master` instead,
    // in one transaction (all or nothing); returns how many data keys. The
    // store then opens only with the new master key.
    std::size_t rotate(const Key& new_master);

    // The keys for another store (docs/privacy.md, "Moving keys"): every
    // data key, or only `subject`'s, wrapped by `transport` (never in
    // clear), with the pseudonym key and the keys forgotten here. A JSON
    // document (keys/key_export.hpp).
    std::string export_keys(const Key& transport, std::optional<std::string_view> subject = std::nullopt);

    struct ImportCounts {
        std::size_t added = 0;      // data keys new to this store
        std::size_t present = 0;    // already here
        std::size_t refused = 0;    // forgotten here: not brought back
        std::size_t forgotten = 0;  // keys here the export says were forgotten: deleted
        bool took_pseudonym_key = false;
    };
    // Takes an export's keys in, wrapped by this store's master key, in one
    // transaction (all or nothing); forgets here what the export lists as
    // forgotten, with an audit row naming `by`. A store without keys (new)
    // takes the export's pseudonym key; one with keys must already share it.
    // Throws std::runtime_error with the reason (not an export, a wrong
    // transport key, another pseudonym key, a damaged key).
    ImportCounts import_keys(std::string_view document, const Key& transport, std::string_view by);

    // True when a subject was forgotten (by another process or connection)
    // since the last call: cached keys must be dropped.
    bool forgot_since();

    const std::filesystem::path& path() const { return path_; }

    // Lists the store in the process-wide table (core/key_stores.hpp) until
    // it closes, so the gateway's `DELETE /api/keys/<subject>` forgets there
    // too: through a connection of its own, opened with `master`.
    void serve_api_forget(const Key& master);

private:
    struct Impl;
    std::filesystem::path path_;
    std::unique_ptr<Impl> impl_;
    std::uint64_t api_handle_ = 0;
};

// Reads a master key secret: the text (an option's resolved value) must be
// a key as parse_key() reads it. Throws std::runtime_error with the reason.
Key master_key_from(std::string_view secret);

// The options the encrypt and decrypt stages share: master_key (a secret)
// and key_store (a path; default <data_dir>/keys.db).
std::vector<OptionSpec> key_store_options();
// The store those options name, opened with their master key. Throws
// std::runtime_error (the pipeline does not start).
// `create`: the encrypt stage makes a missing store; the decrypt stage must
// find one.
std::unique_ptr<KeyStore> open_key_store(const Options& o, const std::filesystem::path& data_dir, bool create);

}  // namespace sluice::keys
