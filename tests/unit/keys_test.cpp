// Field encryption (keys/field_crypto.hpp), the key store
// (keys/key_store.hpp) and the encrypt and decrypt stages: every value type
// round trips, an altered or moved value does not open, a store refuses
// another master key, forgetting a subject shreds its values and no other
// subject's, and a subject forgotten while a stage runs gets a new key.

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/component.hpp"
#include "core/metrics.hpp"
#include "config/config.hpp"
#include "core/registry.hpp"
#include "keys/field_crypto.hpp"
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
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(keys::open_value(aead, *keys::parse_envelope(flipped), out));
    EXPECT_FALSE(keys::parse_envelope("enc:v1:k1:only-two"));
    EXPECT_FALSE(keys::parse_envelope("plain text"));
    EXPECT_FALSE(keys::parse_envelope("enc:v1:::"));
}

TEST(KeyStore, KeysPseudonymsAndForgetting) {
    TempDir d;
    const auto path = d.path / "keys.db";
    std::string alice_id;
    std::string alice_pseudonym;
    {
        keys::KeyStore s(path, key_of('m'));
        alice_pseudonym = s.pseudonym("alice");
        EXPECT_EQ(alice_pseudonym.size(), 22U);
        EXPECT_NE(s.pseudonym("bob"), alice_pseudonym);
        bool created = false;
        const auto k1 = s.key_for(alice_pseudonym, &created);
        EXPECT_TRUE(created);
        const auto k2 = s.key_for(alice_pseudonym, &created);
        EXPECT_FALSE(created);
        EXPECT_EQ(k1.id, k2.id);
        EXPECT_EQ(k1.key, k2.key);
        alice_id = k1.id;
        (void)s.key_for(s.pseudonym("bob"));
    }
    {
        // Reopened: the same pseudonyms and keys.
        keys::KeyStore s(path, key_of('m'));
        EXPECT_EQ(s.pseudonym("alice"), alice_pseudonym);
        keys::Key k{};
        EXPECT_EQ(s.key_by_id(alice_id, k), keys::KeyStore::Lookup::Found);
        EXPECT_EQ(s.list().size(), 2U);
        EXPECT_TRUE(s.forget("alice", "test"));
        EXPECT_FALSE(s.forget("alice", "test"));
        EXPECT_EQ(s.key_by_id(alice_id, k), keys::KeyStore::Lookup::Forgotten);
        EXPECT_EQ(s.key_by_id("ffffffffffffffff", k), keys::KeyStore::Lookup::Unknown);
        ASSERT_EQ(s.forgotten().size(), 1U);
        EXPECT_EQ(s.forgotten()[0].pseudonym, alice_pseudonym);
        EXPECT_EQ(s.forgotten()[0].by, "test");
        // A later record of the subject gets a new key.
        EXPECT_NE(s.key_for(alice_pseudonym).id, alice_id);
    }
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

TEST(EncryptStages, ForgettingShredsOneSubjectOnly) {
    TempDir d;
    const std::string master = base64(std::string(32, 'M'));
    const std::string key = "master_key = \"" + master + "\"\n";
    auto enc = make_stage("type = \"encrypt\"\nsubject = \"{driver}\"\nfields = [\"lat\"]\n" + key, d.path, "t/enc");
    auto dec = make_stage("type = \"decrypt\"\n" + key, d.path, "t/dec");
    ASSERT_TRUE(enc && dec);
    std::vector<Record> batch = {reading("alice", 48.1), reading("bob", 1.5), Record{}};
    std::vector<DeadLetter> dead;
    run(*enc, batch, dead);
    ASSERT_EQ(batch.size(), 2U);
    ASSERT_EQ(dead.size(), 1U);  // no subject
    EXPECT_NE(dead[0].reason.find("no subject"), std::string::npos);
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
