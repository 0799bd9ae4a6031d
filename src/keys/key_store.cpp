#include "keys/key_store.hpp"

#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "buffer/sqlite.hpp"
#include "text/base64.hpp"

namespace sluice::keys {
namespace {

using buffer_detail::Db;
using buffer_detail::ResetGuard;
using buffer_detail::Stmt;
using buffer_detail::Txn;

constexpr std::string_view kCheckLabel = "sluice key store v1: master key check";
constexpr std::string_view kPseudonymAad = "sluice key store v1: pseudonym key";

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string hex(std::span<const unsigned char> b) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : b) {
        out += kDigits[c >> 4];
        out += kDigits[c & 15];
    }
    return out;
}

std::string_view chars(const Key& k) { return {reinterpret_cast<const char*>(k.data()), k.size()}; }

}  // namespace

struct KeyStore::Impl {
    explicit Impl(const std::filesystem::path& path)
        : db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {}

    Db db;
    std::unique_ptr<Aead> master;  // wraps and unwraps data keys
    Key pseudonym_key{};
    Stmt by_pseudonym;
    Stmt insert;
    Stmt by_id;
    Stmt was_forgotten;
    std::int64_t data_version = -1;

    Key unwrap(std::string_view wrapped, std::string_view aad, const std::string& what) {
        std::string plain;
        if (!master->open(wrapped, aad, plain) || plain.size() != kKeyBytes) {
            throw std::runtime_error(fmt::format("key store {}: {} cannot be unwrapped (damaged)", db.path(), what));
        }
        Key k{};
        std::memcpy(k.data(), plain.data(), kKeyBytes);
        std::memset(plain.data(), 0, plain.size());
        return k;
    }
};

KeyStore::KeyStore(const std::filesystem::path& path, const Key& master) : path_(path) {
    try {
        impl_ = std::make_unique<Impl>(path);
    } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("key store {}: cannot open: {}", path.string(), e.what()));
    }
    auto& db = impl_->db;
    sqlite3_busy_timeout(db.get(), 5000);
    db.exec("PRAGMA journal_mode = WAL");
    // A key must be on the disk before anything encrypted with it is.
    db.exec("PRAGMA synchronous = FULL");
    db.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS data_keys (key_id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL UNIQUE, "
            "wrapped BLOB NOT NULL, created_ns INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS forgotten (key_id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, "
            "forgotten_ns INTEGER NOT NULL, by TEXT NOT NULL);");
    impl_->master = std::make_unique<Aead>(master);
    const auto check = hmac_sha256(master, kCheckLabel);
    const std::string check_text = hex(check);
    {
        Txn txn(db);
        Stmt get(db, "SELECT value FROM meta WHERE name = ?");
        get.bind_text(1, "check");
        if (get.step()) {
            if (get.col_text(0) != check_text) {
                throw std::runtime_error(fmt::format(
                    "key store {} was made with another master key: this one opens none of its keys (give the "
                    "master key it was made with)",
                    path.string()));
            }
            get.reset();
            Stmt pk(db, "SELECT value FROM meta WHERE name = 'pseudonym_key'");
            if (!pk.step()) {
                throw std::runtime_error(fmt::format("key store {}: its pseudonym key is missing", path.string()));
            }
            impl_->pseudonym_key = impl_->unwrap(pk.col_blob(0), kPseudonymAad, "the pseudonym key");
        } else {
            get.reset();
            impl_->pseudonym_key = random_key();
            std::string wrapped;
            impl_->master->seal(chars(impl_->pseudonym_key), kPseudonymAad, wrapped);
            Stmt put(db, "INSERT INTO meta (name, value) VALUES (?, ?)");
            put.bind_text(1, "check");
            put.bind_text(2, check_text);
            put.run();
            put.bind_text(1, "pseudonym_key");
            put.bind_blob(2, wrapped);
            put.run();
        }
        txn.commit();
    }
    impl_->by_pseudonym = Stmt(db, "SELECT key_id, wrapped FROM data_keys WHERE pseudonym = ?");
    impl_->insert = Stmt(db, "INSERT INTO data_keys (key_id, pseudonym, wrapped, created_ns) VALUES (?, ?, ?, ?)");
    impl_->by_id = Stmt(db, "SELECT wrapped FROM data_keys WHERE key_id = ?");
    impl_->was_forgotten = Stmt(db, "SELECT 1 FROM forgotten WHERE key_id = ?");
    (void)changed();
}

KeyStore::~KeyStore() = default;

std::string KeyStore::pseudonym(std::string_view subject) const {
    const auto mac = hmac_sha256(impl_->pseudonym_key, subject);
    return base64(std::string_view(reinterpret_cast<const char*>(mac.data()), 16), Base64::Url, false);
}

KeyStore::DataKey KeyStore::key_for(const std::string& pseudonym, bool* created) {
    if (created != nullptr) {
        *created = false;
    }
    auto& s = impl_->by_pseudonym;
    {
        ResetGuard g(s);
        s.bind_text(1, pseudonym);
        if (s.step()) {
            DataKey k;
            k.id = std::string(s.col_text(0));
            k.key = impl_->unwrap(s.col_blob(1), k.id, "data key " + k.id);
            return k;
        }
    }
    DataKey k;
    std::array<unsigned char, 8> id{};
    random_bytes(id);
    k.id = hex(id);
    k.key = random_key();
    std::string wrapped;
    impl_->master->seal(chars(k.key), k.id, wrapped);
    auto& ins = impl_->insert;
    ResetGuard g(ins);
    ins.bind_text(1, k.id);
    ins.bind_text(2, pseudonym);
    ins.bind_blob(3, wrapped);
    ins.bind(4, now_ns());
    ins.run();  // its own transaction, synchronous=FULL: on the disk when this returns
    if (created != nullptr) {
        *created = true;
    }
    return k;
}

KeyStore::Lookup KeyStore::key_by_id(std::string_view id, Key& out) {
    {
        auto& s = impl_->by_id;
        ResetGuard g(s);
        s.bind_text(1, id);
        if (s.step()) {
            out = impl_->unwrap(s.col_blob(0), id, fmt::format("data key {}", id));
            return Lookup::Found;
        }
    }
    auto& f = impl_->was_forgotten;
    ResetGuard g(f);
    f.bind_text(1, id);
    return f.step() ? Lookup::Forgotten : Lookup::Unknown;
}

bool KeyStore::forget(std::string_view subject, std::string_view by) {
    const std::string p = pseudonym(subject);
    auto& db = impl_->db;
    Txn txn(db);
    Stmt get(db, "SELECT key_id FROM data_keys WHERE pseudonym = ?");
    get.bind_text(1, p);
    if (!get.step()) {
        return false;
    }
    const std::string id(get.col_text(0));
    get.reset();
    Stmt del(db, "DELETE FROM data_keys WHERE key_id = ?");
    del.bind_text(1, id);
    del.run();
    Stmt audit(db, "INSERT OR REPLACE INTO forgotten (key_id, pseudonym, forgotten_ns, by) VALUES (?, ?, ?, ?)");
    audit.bind_text(1, id);
    audit.bind_text(2, p);
    audit.bind(3, now_ns());
    audit.bind_text(4, by);
    audit.run();
    txn.commit();
    return true;
}

std::vector<KeyStore::Entry> KeyStore::list() {
    std::vector<Entry> out;
    Stmt s(impl_->db, "SELECT pseudonym, key_id, created_ns FROM data_keys ORDER BY created_ns");
    while (s.step()) {
        out.push_back({std::string(s.col_text(0)), std::string(s.col_text(1)), s.col_int(2)});
    }
    return out;
}

std::vector<KeyStore::Forgotten> KeyStore::forgotten() {
    std::vector<Forgotten> out;
    Stmt s(impl_->db, "SELECT pseudonym, key_id, forgotten_ns, by FROM forgotten ORDER BY forgotten_ns");
    while (s.step()) {
        out.push_back({std::string(s.col_text(0)), std::string(s.col_text(1)), s.col_int(2), std::string(s.col_text(3))});
    }
    return out;
}

bool KeyStore::changed() {
    const std::int64_t v = impl_->db.query_int("PRAGMA data_version");
    const bool was = impl_->data_version >= 0 && v != impl_->data_version;
    impl_->data_version = v;
    return was;
}

Key master_key_from(std::string_view secret) {
    std::string error;
    auto k = parse_key(secret, error);
    if (!k) {
        throw std::runtime_error("master_key: " + error);
    }
    return *k;
}

std::vector<OptionSpec> key_store_options() {
    return {
        {.name = "master_key", .type = OptionType::Secret,
         .doc = "The master key that wraps the data keys: 32 bytes as 64 hex digits or base64, from a file or a "
                "systemd credential, never in the config text: \"@/etc/sluice/master.key\" or "
                "\"@credential:sluice-master-key\". Make one with `head -c 32 /dev/urandom | base64`; lose it and "
                "nothing encrypted can be read again.",
         .required = true},
        {.name = "key_store", .type = OptionType::String, .default_value = "",
         .doc = "The SQLite file of the data keys; empty: keys.db in the gateway's data directory. The encrypt and "
                "decrypt stages of one gateway share it; `sluice keys` manages it."},
    };
}

std::unique_ptr<KeyStore> open_key_store(const Options& o, const std::filesystem::path& data_dir) {
    const Key master = master_key_from(o.str("master_key"));
    const std::string path = o.str_or("key_store", "");
    return std::make_unique<KeyStore>(path.empty() ? data_dir / "keys.db" : std::filesystem::path(path), master);
}

}  // namespace sluice::keys
