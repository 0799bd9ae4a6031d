// Field encryption (keys/field_crypto.hpp), the key store
// (keys/key_store.hpp) and the encrypt and decrypt stages: every value type
// round trips, an altered or moved value does not open, a store refuses
// another master key, forgetting a subject shreds its values and no other
// subject's, and a subject forgotten while a stage runs gets a new key.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/component.hpp"
#include "core/metrics.hpp"
#include "config/config.hpp"
#include "core/registry.hpp"
#include "buffer/sqlite.hpp"
#include "keys/field_crypto.hpp"
#include "keys/key_export.hpp"
#include "keys/key_store.hpp"
#include "text/base64.hpp"

namespace sluice {
namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/sluice-keys-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

keys::Key key_of(char c) {
    keys::Key k{};
    k.fill(static_cast<unsigned char>(c));
    return k;
}

TEST(Base64, DecodesWhatItEncodes) {
    const std::vector<std::string> texts = {"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)};
    for (const auto& s : texts) {
        for (const auto a : {Base64::Standard, Base64::Url}) {
            for (const bool pad : {true, false}) {
                const auto back = decode_base64(base64(s, a, pad), a);
                ASSERT_TRUE(back.has_value()) << s;
                EXPECT_EQ(*back, s);
            }
        }
    }
    EXPECT_FALSE(decode_base64("a", Base64::Standard));
    EXPECT_FALSE(decode_base64("ab*c", Base64::Standard));
    EXPECT_FALSE(decode_base64("ab-c", Base64::Standard));
    EXPECT_TRUE(decode_base64("ab-c", Base64::Url));
    // Canonical only: "Zg==" is "f"; "Zh==" has bits beyond the data, "Zg===" one '=' too many.
    EXPECT_TRUE(decode_base64("Zg==", Base64::Standard));
    EXPECT_FALSE(decode_base64("Zh==", Base64::Standard));
    EXPECT_FALSE(decode_base64("Zg===", Base64::Standard));
    EXPECT_FALSE(decode_base64("Zg=", Base64::Standard));
}

TEST(FieldCrypto, ParsesKeys) {
    std::string error;
    EXPECT_TRUE(keys::parse_key(std::string(64, 'a') + "\n", error));
    EXPECT_TRUE(keys::parse_key(base64(std::string(32, 'k')) + "\n", error));
    EXPECT_FALSE(keys::parse_key("short", error));
    EXPECT_NE(error.find("32 bytes"), std::string::npos);
    EXPECT_FALSE(keys::parse_key(base64(std::string(31, 'k')), error));
}

TEST(FieldCrypto, EveryTypeRoundTripsAndNothingShowsThrough) {
    const keys::Aead aead(key_of('a'));
    const std::vector<FieldValue> values = {std::string("Alice Example"), std::int64_t{-42}, 48.137154, true,
                                            std::string("")};
    for (const auto& v : values) {
        std::string env;
        keys::seal_value(aead, "0123456789abcdef", v, env);
        EXPECT_TRUE(env.starts_with("enc:v1:0123456789abcdef:")) << env;
        EXPECT_EQ(env.find("Alice"), std::string::npos);
        const auto e = keys::parse_envelope(env);
        ASSERT_TRUE(e.has_value()) << env;
        FieldValue back;
        ASSERT_TRUE(keys::open_value(aead, *e, back)) << env;
        EXPECT_EQ(back, v);
    }
    // Two encryptions of one value differ (a fresh nonce each).
    std::string a;
    std::string b;
    keys::seal_value(aead, "k", std::string("same"), a);
    keys::seal_value(aead, "k", std::string("same"), b);
    EXPECT_NE(a, b);
}

TEST(FieldCrypto, AlteredMovedOrForeignValuesDoNotOpen) {
    const keys::Aead aead(key_of('a'));
    const keys::Aead other(key_of('b'));
    std::string env;
    keys::seal_value(aead, "k1", std::string("secret"), env);
    FieldValue out;
    EXPECT_FALSE(keys::open_value(other, *keys::parse_envelope(env), out));
    // Under another key id (the AAD): refused.
    std::string moved = env;
    moved.replace(moved.find("k1"), 2, "k2");
    EXPECT_FALSE(keys::open_value(aead, *keys::parse_envelope(moved), out));
    // A flipped character of the ciphertext: refused.
    std::string flipped = env;
    char& c = flipped[flipped.size() - 5];  // inside the tag: every bit of it counts
    c = c == 'A' ? 'B' : 'A';
    EXPECT_FALSE(keys::open_value(aead, *keys::parse_envelope(flipped), out));
    EXPECT_FALSE(keys::parse_envelope("enc:v1:k1:only-two"));
    EXPECT_FALSE(keys::parse_envelope("plain text"));
    EXPECT_FALSE(keys::parse_envelope("enc:v1:::"));
}

keys::KeyStore::DataKey key_for(keys::KeyStore& s, const std::string& pseudonym, bool* created = nullptr,
                                bool fresh = false) {
    const keys::KeyStore::KeyRequest r{pseudonym, fresh};
    auto results = s.keys_for(std::span(&r, 1), std::chrono::hours(24));
    EXPECT_TRUE(results[0].key.has_value()) << results[0].error;
    if (created != nullptr) {
        *created = results[0].created;
    }
    return results[0].key.value_or(keys::KeyStore::DataKey{});
}

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(KeyStore, KeysPseudonymsAndForgetting) {
    TempDir d;
    const auto path = d.path / "keys.db";
    EXPECT_THROW(keys::KeyStore(path, key_of('m'), /*create=*/false), std::runtime_error);
    std::string alice_id;
    std::string alice_wrapped;
    std::string alice_pseudonym;
    keys::Key alice_key{};
    {
        keys::KeyStore s(path, key_of('m'));
        alice_pseudonym = s.pseudonym("alice");
        EXPECT_EQ(alice_pseudonym.size(), 22U);
        EXPECT_NE(s.pseudonym("bob"), alice_pseudonym);
        bool created = false;
        const auto k1 = key_for(s, alice_pseudonym, &created);
        EXPECT_TRUE(created);
        const auto k2 = key_for(s, alice_pseudonym, &created);
        EXPECT_FALSE(created);
        EXPECT_EQ(k1.id, k2.id);
        EXPECT_EQ(k1.key, k2.key);
        // A fresh key replaces it for new values; the old one still opens old ones.
        const auto k3 = key_for(s, alice_pseudonym, &created, /*fresh=*/true);
        EXPECT_TRUE(created);
        EXPECT_NE(k3.id, k1.id);
        EXPECT_EQ(key_for(s, alice_pseudonym).id, k3.id);
        alice_id = k1.id;
        alice_key = k1.key;
        (void)key_for(s, s.pseudonym("bob"));
        // Several subjects at once, one transaction.
        std::vector<keys::KeyStore::KeyRequest> many;
        for (int i = 0; i < 50; ++i) {
            many.push_back({s.pseudonym("subject" + std::to_string(i)), false});
        }
        for (const auto& r : s.keys_for(many, std::chrono::hours(24))) {
            EXPECT_TRUE(r.created && r.key) << r.error;
        }
    }
    {
        // Reopened: the same pseudonyms and keys.
        keys::KeyStore s(path, key_of('m'), /*create=*/false);
        EXPECT_EQ(s.pseudonym("alice"), alice_pseudonym);
        keys::Key k{};
        EXPECT_EQ(s.key_by_id(alice_id, k), keys::KeyStore::Lookup::Found);
        EXPECT_EQ(k, alice_key);
        EXPECT_EQ(s.list().size(), 53U);
        EXPECT_FALSE(s.forgot_since());
        {
            buffer_detail::Db db(path, SQLITE_OPEN_READONLY);
            buffer_detail::Stmt get(db, "SELECT wrapped FROM data_keys WHERE key_id = ?");
            get.bind_text(1, alice_id);
            ASSERT_TRUE(get.step());
            alice_wrapped = std::string(get.col_blob(0));
        }
        {
            keys::KeyStore other(path, key_of('m'));  // `sluice keys forget` beside it
            EXPECT_TRUE(other.forget("alice", "test"));
            EXPECT_FALSE(other.forget("alice", "test"));
        }
        EXPECT_TRUE(s.forgot_since());
        EXPECT_FALSE(s.forgot_since());
        EXPECT_EQ(s.key_by_id(alice_id, k), keys::KeyStore::Lookup::Forgotten);
        EXPECT_EQ(s.key_by_id("ffffffffffffffff", k), keys::KeyStore::Lookup::Unknown);
        ASSERT_EQ(s.forgotten().size(), 2U);  // both of alice's keys
        EXPECT_EQ(s.forgotten()[0].pseudonym, alice_pseudonym);
        EXPECT_EQ(s.forgotten()[0].by, "test");
        // A later record of the subject gets a new key.
        EXPECT_NE(key_for(s, alice_pseudonym).id, alice_id);
    }
    // The forgotten key's wrapped bytes are gone from the file and its log.
    {
        keys::KeyStore s(path, key_of('m'));
        for (const auto& e : s.list()) {
            EXPECT_NE(e.key_id, alice_id);
        }
    }
    const std::string all = file_bytes(path) + file_bytes(path.string() + "-wal");
    ASSERT_FALSE(alice_wrapped.empty());
    EXPECT_EQ(all.find(alice_wrapped), std::string::npos) << "the forgotten key is still in the files";
    {
        // Rotation: every key wrapped by the new master key, the old one refused.
        keys::KeyStore s(path, key_of('m'));
        keys::KeyStore running(path, key_of('m'));  // a stage that did not stop
        EXPECT_EQ(s.rotate(key_of('n')), 52U);  // alice's two forgotten, one new
        const keys::KeyStore::KeyRequest r{running.pseudonym("carol"), false};
        const auto res = running.keys_for(std::span(&r, 1), std::chrono::hours(24));
        EXPECT_FALSE(res[0].key);
        EXPECT_NE(res[0].error.find("rotated"), std::string::npos) << res[0].error;
    }
    {
        keys::KeyStore s(path, key_of('n'));
        keys::Key k{};
        EXPECT_EQ(s.key_by_id(key_for(s, s.pseudonym("bob")).id, k), keys::KeyStore::Lookup::Found);
        EXPECT_EQ(s.pseudonym("alice"), alice_pseudonym);
    }
    EXPECT_THROW(keys::KeyStore(path, key_of('m')), std::runtime_error);
    try {
        keys::KeyStore s(path, key_of('x'));
        FAIL() << "another master key was taken";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("made with another master key"), std::string::npos) << e.what();
    }
}

// The stages, as a pipeline runs them, from their TOML.
std::unique_ptr<Stage> make_stage(const std::string& stage_toml, const std::filesystem::path& dir,
                                  const std::string& name) {
    const std::string text = "[[pipelines.p.sources]]\ntype = \"stdin\"\n[[pipelines.p.stages]]\n" + stage_toml +
                             "\n[[pipelines.p.sinks]]\ntype = \"stdout\"\n";
    Diagnostics diag;
    auto cfg = load_config_text(text, "test.toml", builtin_registry(), diag);
    if (!cfg) {
        ADD_FAILURE() << diag.str();
        return nullptr;
    }
    const auto& spec = cfg->pipelines[0].stages[0];
    auto stage = spec.descriptor->make_stage(spec.options);
    static std::vector<std::unique_ptr<ComponentMetrics>> kept;
    kept.push_back(std::make_unique<ComponentMetrics>(ComponentMetrics::for_component(name, "stage")));
    StageContext ctx;
    ctx.name = name;
    ctx.id = "s";
    ctx.metrics = kept.back().get();
    ctx.data_dir = dir;
    stage->open(ctx);
    return stage;
}

void run(Stage& s, std::vector<Record>& records, std::vector<DeadLetter>& dead) {
    std::vector<StateChange> state;
    std::vector<std::pair<std::string, Record>> streams;
    StageBatch b{records, dead, state, streams, 1, 1};
    s.process(b);
}

Record reading(const std::string& driver, double lat) {
    Record r;
    r.tags = {{"driver", driver}};
    r.fields = {{"lat", lat}, {"speed", std::int64_t{50}}};
    return r;
}

TEST(KeyStore, ExportImportIsAllOrNothing) {
    TempDir d;
    keys::KeyStore from(d.path / "from.db", key_of('a'));
    const auto k = key_for(from, from.pseudonym("alice"));
    (void)key_for(from, from.pseudonym("bob"));
    const keys::Key transport = key_of('t');
    const std::string doc = from.export_keys(transport);
    EXPECT_EQ(doc.find(std::string(reinterpret_cast<const char*>(k.key.data()), k.key.size())), std::string::npos);

    // A damaged key in the export: refused, nothing imported, not even the pseudonym key.
    auto parsed = keys::parse_key_export(doc, nullptr);
    ASSERT_TRUE(parsed);
    parsed->keys.back().wrapped[20] ^= 1;
    keys::KeyStore to(d.path / "to.db", key_of('b'));
    const std::string own = to.pseudonym("alice");
    try {
        (void)to.import_keys(keys::write_key_export(*parsed), transport, "test");
        ADD_FAILURE() << "a damaged export was taken";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("nothing was imported"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(to.list().empty());
    EXPECT_EQ(to.pseudonym("alice"), own);

    const auto c = to.import_keys(doc, transport, "test");
    EXPECT_EQ(c.added, 2U);
    EXPECT_TRUE(c.took_pseudonym_key);
    EXPECT_EQ(to.pseudonym("alice"), from.pseudonym("alice"));
    keys::Key got{};
    ASSERT_EQ(to.key_by_id(k.id, got), keys::KeyStore::Lookup::Found);
    EXPECT_EQ(got, k.key);
    // Not an export at all, with the reason.
    EXPECT_THROW((void)to.import_keys("{\"format\":\"x\"}", transport, "test"), std::runtime_error);

    // Altered on the way: a forgotten entry slipped in (which would delete
    // a key) is refused, and so is a key's time changed.
    auto forged = keys::parse_key_export(doc, nullptr);
    ASSERT_TRUE(forged);
    forged->forgotten.push_back({k.id, forged->keys.front().pseudonym, 1, "someone"});
    try {
        (void)to.import_keys(keys::write_key_export(*forged), transport, "test");
        ADD_FAILURE() << "an altered export was taken";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("altered"), std::string::npos) << e.what();
    }
    ASSERT_EQ(to.key_by_id(k.id, got), keys::KeyStore::Lookup::Found);

    // One subject's export carries no pseudonym key; a store with another
    // one refuses it, the store that shares it takes it.
    const std::string one = from.export_keys(transport, std::string_view("alice"));
    const auto parsed_one = keys::parse_key_export(one, nullptr);
    ASSERT_TRUE(parsed_one);
    EXPECT_TRUE(parsed_one->pseudonym_key.empty());
    EXPECT_EQ(parsed_one->keys.size(), 1U);
    keys::KeyStore stranger(d.path / "stranger.db", key_of('c'));
    EXPECT_THROW((void)stranger.import_keys(one, transport, "test"), std::runtime_error);
    EXPECT_EQ(to.import_keys(one, transport, "test").present, 1U);
}

TEST(EncryptStages, ForgettingShredsOneSubjectOnly) {
    TempDir d;
    const std::string master = base64(std::string(32, 'M'));
    const std::string key = "master_key = \"" + master + "\"\n";
    auto enc = make_stage("type = \"encrypt\"\nsubject = \"{driver}\"\nfields = [\"lat\"]\n" + key, d.path, "t/enc");
    auto dec = make_stage("type = \"decrypt\"\n" + key, d.path, "t/dec");
    ASSERT_TRUE(enc && dec);
    Record no_subject;
    no_subject.fields = {{"lat", 9.75}};
    std::vector<Record> batch = {reading("alice", 48.1), reading("bob", 1.5), no_subject};
    std::vector<DeadLetter> dead;
    run(*enc, batch, dead);
    ASSERT_EQ(batch.size(), 2U);
    ASSERT_EQ(dead.size(), 1U);  // no subject
    EXPECT_NE(dead[0].reason.find("no subject"), std::string::npos);
    EXPECT_EQ(dead[0].payload.find("9.75"), std::string::npos) << dead[0].payload;
    EXPECT_NE(dead[0].payload.find("[withheld]"), std::string::npos) << dead[0].payload;
    const auto* lat = std::get_if<std::string>(&batch[0].fields[0].value);
    ASSERT_NE(lat, nullptr);
    EXPECT_TRUE(lat->starts_with("enc:v1:"));
    EXPECT_EQ(batch[0].fields[1].value, FieldValue(std::int64_t{50}));  // not listed: in clear
    auto copy = batch;
    run(*dec, copy, dead);
    EXPECT_EQ(copy[0].fields[0].value, FieldValue(48.1));
    EXPECT_EQ(copy[1].fields[0].value, FieldValue(1.5));

    // Forgotten by another connection (`sluice keys forget`) while the stages run.
    {
        std::string error;
        keys::KeyStore s(d.path / "keys.db", *keys::parse_key(master, error));
        ASSERT_TRUE(s.forget("alice", "test"));
    }
    copy = batch;
    run(*dec, copy, dead);
    EXPECT_EQ(copy[0].fields[0].value, FieldValue(std::string("[forgotten]")));
    EXPECT_EQ(copy[1].fields[0].value, FieldValue(1.5));
    // New readings of alice get a new key, and can be read.
    std::vector<Record> later = {reading("alice", 50.0)};
    run(*enc, later, dead);
    run(*dec, later, dead);
    EXPECT_EQ(later[0].fields[0].value, FieldValue(50.0));
}

}  // namespace
}  // namespace sluice
