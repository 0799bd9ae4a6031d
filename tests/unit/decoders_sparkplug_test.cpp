// The sparkplug_b decoder: payloads written field by field from the
// Sparkplug B specification's Payload and Metric messages
// (protobuf_writer.hpp), topics of its namespace, and its alias maps carried
// over a restart through take_state/open.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/metrics.hpp"
#include "decoders/sparkplug_b/sparkplug_b.hpp"
#include "protobuf_writer.hpp"

namespace sluice::decoders {
namespace {

namespace w = sluice::testing::pb;

// Metric fields and datatypes of the specification.
struct M {
    std::string name;
    std::uint64_t alias = 0;  // 0: none
    std::uint32_t datatype = 0;
    enum Kind { None, Int, Long, Float, Double, Bool, Text, Bytes } kind = None;
    std::uint64_t u = 0;
    double d = 0;
    std::string text;
    std::uint64_t timestamp = 0;
    bool historical = false;
    bool transient = false;
    bool is_null = false;
};

w::Message metric(const M& m) {
    w::Message out;
    if (!m.name.empty()) {
        out.bytes(1, m.name);
    }
    if (m.alias != 0) {
        out.varint(2, m.alias);
    }
    if (m.timestamp != 0) {
        out.varint(3, m.timestamp);
    }
    if (m.datatype != 0) {
        out.varint(4, m.datatype);
    }
    if (m.historical) {
        out.varint(5, 1);
    }
    if (m.transient) {
        out.varint(6, 1);
    }
    if (m.is_null) {
        out.varint(7, 1);
    }
    switch (m.kind) {
    case M::Int:
        out.varint(10, m.u);
        break;
    case M::Long:
        out.varint(11, m.u);
        break;
    case M::Float:
        out.f32(12, static_cast<float>(m.d));
        break;
    case M::Double:
        out.f64(13, m.d);
        break;
    case M::Bool:
        out.varint(14, m.u);
        break;
    case M::Text:
        out.bytes(15, m.text);
        break;
    case M::Bytes:
        out.bytes(16, m.text);
        break;
    case M::None:
        break;
    }
    return out;
}

std::string payload(std::uint64_t timestamp, std::uint64_t seq, const std::vector<M>& metrics) {
    w::Message p;
    p.varint(1, timestamp);
    for (const auto& m : metrics) {
        p.message(2, metric(m));
    }
    p.varint(3, seq);
    return p.str();
}

constexpr std::uint64_t kT = 1'700'000'000'000;  // ms

struct Decoded {
    DecodeStatus status;
    std::vector<Record> records;
    std::string error;
};

Decoded decode(Decoder& d, const std::string& topic, const std::string& bytes) {
    Frame f;
    f.origin = topic;
    f.payload = bytes;
    Decoded r;
    r.status = d.decode(f, r.records, r.error);
    return r;
}

std::unique_ptr<Decoder> opened(const std::string& component, std::map<std::string, std::string>* stored = nullptr,
                                SparkplugConfig config = {}) {
    auto d = make_sparkplug_decoder(config);
    DecoderContext ctx;
    ctx.component = component;
    ctx.load_state = [stored](const std::function<void(std::string_view, std::string_view)>& fn) {
        if (stored != nullptr) {
            for (const auto& [k, v] : *stored) {
                fn(k, v);
            }
        }
    };
    d->open(ctx);
    return d;
}

// Applies the decoder's state changes to `stored`, as the buffer would.
void commit(Decoder& d, std::map<std::string, std::string>& stored) {
    std::vector<StateChange> changes;
    d.take_state(changes);
    for (const auto& c : changes) {
        if (c.erase) {
            stored.erase(c.key);
        } else {
            stored[c.key] = c.value;
        }
    }
}

const Field* field(const Record& r, std::string_view name) { return r.field(name); }

double counter(const std::string& name, const std::string& component) {
    const std::string text = metrics().render();
    const std::string needle = name + "{component=\"" + component + "\"} ";
    const auto at = text.find(needle);
    return at == std::string::npos ? -1 : std::stod(text.substr(at + needle.size()));
}

const std::vector<M> kNodeBirth = {
    {.name = "bdSeq", .datatype = 8, .kind = M::Long, .u = 3},
    {.name = "Node Control/Rebirth", .alias = 1, .datatype = 11, .kind = M::Bool, .u = 0},
    {.name = "uptime", .alias = 2, .datatype = 4, .kind = M::Long, .u = 100},
};

const std::vector<M> kDeviceBirth = {
    {.name = "temp", .alias = 10, .datatype = 10, .kind = M::Double, .d = 21.5},
    {.name = "level", .alias = 11, .datatype = 1, .kind = M::Int, .u = 0xfffffffe},  // Int8 -2
    {.name = "count", .alias = 12, .datatype = 8, .kind = M::Long, .u = 18'000'000'000'000'000'000ULL},
    {.name = "ratio", .alias = 13, .datatype = 9, .kind = M::Float, .d = 0.5},
    {.name = "state", .alias = 14, .datatype = 12, .kind = M::Text, .text = "RUN"},
    {.name = "since", .alias = 15, .datatype = 13, .kind = M::Long, .u = kT},
    {.name = "blob", .alias = 16, .datatype = 17, .kind = M::Bytes, .text = std::string("\x00\xff", 2)},
    {.name = "on", .alias = 17, .datatype = 11, .kind = M::Bool, .u = 1},
};

TEST(SparkplugDecoder, BirthsAndDataWithAliases) {
    auto d = opened("t/births");
    auto nb = decode(*d, "spBv1.0/plant/NBIRTH/gw1", payload(kT, 0, kNodeBirth));
    ASSERT_EQ(nb.status, DecodeStatus::Ok) << nb.error;
    ASSERT_EQ(nb.records.size(), 2U);  // the metrics, the status
    EXPECT_EQ(nb.records[0].time_ns, static_cast<TimeNs>(kT) * 1'000'000);
    EXPECT_EQ(*nb.records[0].tag("group"), "plant");
    EXPECT_EQ(*nb.records[0].tag("edge_node"), "gw1");
    EXPECT_EQ(nb.records[0].tag("device"), nullptr);
    EXPECT_EQ(std::get<std::int64_t>(field(nb.records[0], "uptime")->value), 100);
    EXPECT_EQ(std::get<bool>(field(nb.records[0], "Node Control/Rebirth")->value), false);
    EXPECT_EQ(nb.records[1].measurement, "sparkplug_status");
    EXPECT_EQ(std::get<bool>(field(nb.records[1], "online")->value), true);

    auto db = decode(*d, "spBv1.0/plant/DBIRTH/gw1/pump", payload(kT, 1, kDeviceBirth));
    ASSERT_EQ(db.status, DecodeStatus::Ok) << db.error;
    EXPECT_EQ(*db.records[0].tag("device"), "pump");

    // DATA by alias only; one metric with its own time, one null, one historical.
    auto dd = decode(*d, "spBv1.0/plant/DDATA/gw1/pump",
                     payload(kT + 1000, 2,
                             {{.alias = 10, .kind = M::Double, .d = 22.25},
                              {.alias = 11, .kind = M::Int, .u = 0xffffff80},  // Int8 -128
                              {.alias = 12, .kind = M::Long, .u = 5},
                              {.alias = 13, .kind = M::Float, .d = 0.25},
                              {.alias = 14, .kind = M::Text, .text = "STOP"},
                              {.alias = 15, .kind = M::Long, .u = kT + 500},
                              {.alias = 16, .kind = M::Bytes, .text = std::string("\x00\xff", 2)},
                              {.alias = 17, .is_null = true},
                              {.alias = 10, .kind = M::Double, .d = 20.0, .timestamp = kT + 2000},
                              {.alias = 10, .kind = M::Double, .d = 19.0, .timestamp = kT - 5000,
                               .historical = true}}));
    ASSERT_EQ(dd.status, DecodeStatus::Ok) << dd.error;
    ASSERT_EQ(dd.records.size(), 3U);
    const Record& r = dd.records[0];
    EXPECT_EQ(r.time_ns, static_cast<TimeNs>(kT + 1000) * 1'000'000);
    EXPECT_EQ(std::get<double>(field(r, "temp")->value), 22.25);
    EXPECT_EQ(std::get<std::int64_t>(field(r, "level")->value), -128);
    EXPECT_EQ(std::get<std::int64_t>(field(r, "count")->value), 5);
    EXPECT_EQ(std::get<double>(field(r, "ratio")->value), 0.25);
    EXPECT_EQ(std::get<std::string>(field(r, "state")->value), "STOP");
    EXPECT_EQ(std::get<std::string>(field(r, "since")->value), "2023-11-14T22:13:20.500Z");
    EXPECT_EQ(std::get<std::string>(field(r, "blob")->value), "AP8");
    EXPECT_EQ(field(r, "on"), nullptr);  // is_null
    EXPECT_EQ(r.fields.size(), 7U);
    EXPECT_EQ(dd.records[1].time_ns, static_cast<TimeNs>(kT + 2000) * 1'000'000);
    EXPECT_EQ(std::get<double>(field(dd.records[1], "temp")->value), 20.0);
    EXPECT_EQ(*dd.records[2].tag("historical"), "true");
    EXPECT_EQ(*dd.records[2].tag("device"), "pump");

    // The births' values with their types.
    EXPECT_EQ(std::get<std::int64_t>(field(db.records[0], "level")->value), -2);
    EXPECT_EQ(std::get<double>(field(db.records[0], "count")->value), 18e18);
    EXPECT_EQ(counter("sluice_sparkplug_sequence_gaps_total", "t/births"), 0);
}

TEST(SparkplugDecoder, DataBeforeBirthIsBrokenAndCounted) {
    auto d = opened("t/early");
    auto dd = decode(*d, "spBv1.0/plant/DDATA/gw9/pump", payload(kT, 0, {{.alias = 10, .kind = M::Double, .d = 1}}));
    EXPECT_EQ(dd.status, DecodeStatus::Broken);
    EXPECT_EQ(dd.error, "sparkplug_b: DDATA of device plant/gw9/pump: alias 10 is unknown: no DBIRTH seen");
    EXPECT_TRUE(dd.records.empty());
    // A name with its datatype needs no birth.
    auto named = decode(*d, "spBv1.0/plant/NDATA/gw9",
                        payload(kT, 0, {{.name = "x", .datatype = 3, .kind = M::Int, .u = 7}}));
    ASSERT_EQ(named.status, DecodeStatus::Ok) << named.error;
    EXPECT_EQ(std::get<std::int64_t>(field(named.records[0], "x")->value), 7);

    ASSERT_EQ(decode(*d, "spBv1.0/plant/DBIRTH/gw9/pump", payload(kT, 0, kDeviceBirth)).status, DecodeStatus::Ok);
    auto other = decode(*d, "spBv1.0/plant/DDATA/gw9/pump", payload(kT, 1, {{.alias = 99, .kind = M::Int}}));
    EXPECT_EQ(other.error, "sparkplug_b: DDATA of device plant/gw9/pump: alias 99 is not in its DBIRTH");
    EXPECT_EQ(counter("sluice_sparkplug_unknown_alias_frames_total", "t/early"), 2);
}

TEST(SparkplugDecoder, AliasesSurviveARestart) {
    std::map<std::string, std::string> stored;
    {
        auto d = opened("t/restart", &stored);
        ASSERT_EQ(decode(*d, "spBv1.0/plant/NBIRTH/gw1", payload(kT, 0, kNodeBirth)).status, DecodeStatus::Ok);
        ASSERT_EQ(decode(*d, "spBv1.0/plant/DBIRTH/gw1/pump", payload(kT, 1, kDeviceBirth)).status,
                  DecodeStatus::Ok);
        commit(*d, stored);
    }
    EXPECT_EQ(stored.size(), 2U);
    EXPECT_TRUE(stored.contains("plant/gw1/pump"));
    auto d = opened("t/restart", &stored);
    auto dd = decode(*d, "spBv1.0/plant/DDATA/gw1/pump", payload(kT, 2, {{.alias = 14, .kind = M::Text, .text = "X"}}));
    ASSERT_EQ(dd.status, DecodeStatus::Ok) << dd.error;
    EXPECT_EQ(std::get<std::string>(field(dd.records[0], "state")->value), "X");

    // NDEATH with the birth's bdSeq ends the node and its devices.
    auto stale = decode(*d, "spBv1.0/plant/NDEATH/gw1", payload(kT, 0, {{.name = "bdSeq", .datatype = 8,
                                                                          .kind = M::Long, .u = 2}}));
    ASSERT_EQ(stale.status, DecodeStatus::Ok);
    EXPECT_TRUE(stale.records.empty());  // an older session's will
    EXPECT_EQ(counter("sluice_sparkplug_stale_deaths_total", "t/restart"), 1);
    auto death = decode(*d, "spBv1.0/plant/NDEATH/gw1", payload(kT, 0, {{.name = "bdSeq", .datatype = 8,
                                                                          .kind = M::Long, .u = 3}}));
    ASSERT_EQ(death.status, DecodeStatus::Ok);
    ASSERT_EQ(death.records.size(), 2U);
    EXPECT_EQ(std::get<bool>(field(death.records[1], "online")->value), false);
    commit(*d, stored);
    EXPECT_TRUE(stored.empty());
    EXPECT_EQ(decode(*d, "spBv1.0/plant/DDATA/gw1/pump", payload(kT, 3, {{.alias = 14, .kind = M::Text}})).status,
              DecodeStatus::Broken);
}

TEST(SparkplugDecoder, SequenceGapsAreCounted) {
    auto d = opened("t/seq");
    ASSERT_EQ(decode(*d, "spBv1.0/g/NBIRTH/n", payload(kT, 254, kNodeBirth)).status, DecodeStatus::Ok);
    ASSERT_EQ(decode(*d, "spBv1.0/g/NDATA/n", payload(kT, 255, {{.alias = 2, .kind = M::Long, .u = 1}})).status,
              DecodeStatus::Ok);
    ASSERT_EQ(decode(*d, "spBv1.0/g/NDATA/n", payload(kT, 0, {{.alias = 2, .kind = M::Long, .u = 2}})).status,
              DecodeStatus::Ok);  // wraps
    EXPECT_EQ(counter("sluice_sparkplug_sequence_gaps_total", "t/seq"), 0);
    ASSERT_EQ(decode(*d, "spBv1.0/g/NDATA/n", payload(kT, 5, {{.alias = 2, .kind = M::Long, .u = 3}})).status,
              DecodeStatus::Ok);
    EXPECT_EQ(counter("sluice_sparkplug_sequence_gaps_total", "t/seq"), 1);
}

TEST(SparkplugDecoder, TopicsAndStateMessages) {
    auto d = opened("t/topics");
    EXPECT_EQ(decode(*d, "plant/line1", "{}").status, DecodeStatus::NotMine);
    EXPECT_EQ(decode(*d, "spBv1.0", "").status, DecodeStatus::NotMine);
    for (const char* bad : {"spBv1.0/g/NBIRTH", "spBv1.0/g/DDATA/n", "spBv1.0/g/NDATA/n/d", "spBv1.0/g/XDATA/n",
                            "spBv1.0//NDATA/n", "spBv1.0/g/DDATA/n/d/e"}) {
        const auto r = decode(*d, bad, payload(kT, 0, {}));
        EXPECT_EQ(r.status, DecodeStatus::Broken) << bad;
        EXPECT_NE(r.error.find("is not spBv1.0/<group>/<message type>/<edge node>[/<device>]"), std::string::npos)
            << r.error;
    }
    auto st = decode(*d, "spBv1.0/STATE/scada-1", R"({"online": false, "timestamp": 1700000000000})");
    ASSERT_EQ(st.status, DecodeStatus::Ok) << st.error;
    EXPECT_EQ(*st.records[0].tag("host"), "scada-1");
    EXPECT_EQ(std::get<bool>(field(st.records[0], "online")->value), false);
    EXPECT_EQ(st.records[0].time_ns, static_cast<TimeNs>(kT) * 1'000'000);
    EXPECT_EQ(decode(*d, "spBv1.0/STATE/scada-1", "ONLINE").records.size(), 1U);
    EXPECT_EQ(decode(*d, "spBv1.0/STATE/scada-1", "maybe").status, DecodeStatus::Broken);
    EXPECT_EQ(decode(*d, "spBv1.0/g/NDATA/n", "\xff\xff").status, DecodeStatus::Broken);
    const auto birth = decode(*d, "spBv1.0/g/NBIRTH/n", payload(kT, 0, {{.name = "x", .kind = M::Int, .u = 1}}));
    EXPECT_EQ(birth.error, "sparkplug_b: NBIRTH metric 1 has no datatype");
}

TEST(SparkplugDecoder, SessionsAreBoundedByEvictingTheLeastRecent) {
    SparkplugConfig c;
    c.max_sessions = 2;
    c.status_measurement = "";
    std::map<std::string, std::string> stored;
    auto d = opened("t/bounded", &stored, c);
    ASSERT_EQ(decode(*d, "spBv1.0/g/NBIRTH/a", payload(kT, 0, kNodeBirth)).records.size(), 1U);  // no status
    ASSERT_EQ(decode(*d, "spBv1.0/g/NBIRTH/b", payload(kT, 0, kNodeBirth)).status, DecodeStatus::Ok);
    ASSERT_EQ(decode(*d, "spBv1.0/g/NDATA/a", payload(kT, 1, {{.alias = 2, .kind = M::Long, .u = 1}})).status,
              DecodeStatus::Ok);  // a is heard from after b
    ASSERT_EQ(decode(*d, "spBv1.0/g/NBIRTH/c", payload(kT, 0, kNodeBirth)).status, DecodeStatus::Ok);
    commit(*d, stored);
    EXPECT_EQ(stored.size(), 2U);
    EXPECT_TRUE(stored.contains("g/a") && stored.contains("g/c"));
    EXPECT_EQ(counter("sluice_sparkplug_evicted_sessions_total", "t/bounded"), 1);
    EXPECT_EQ(decode(*d, "spBv1.0/g/NDATA/b", payload(kT, 1, {{.alias = 2, .kind = M::Long}})).status,
              DecodeStatus::Broken);

    // Stored maps beyond max_sessions (or unreadable) are erased at the next commit.
    stored["g/x"] = "garbage";
    auto again = opened("t/bounded2", &stored, c);
    commit(*again, stored);
    EXPECT_FALSE(stored.contains("g/x"));
}

TEST(SparkplugDecoder, DeathsCommandsAndFlags) {
    std::map<std::string, std::string> stored;
    auto d = opened("t/deaths", &stored);
    ASSERT_EQ(decode(*d, "spBv1.0/p/NBIRTH/n", payload(kT, 0, kNodeBirth)).status, DecodeStatus::Ok);
    ASSERT_EQ(decode(*d, "spBv1.0/p/DBIRTH/n/a", payload(kT, 1, kDeviceBirth)).status, DecodeStatus::Ok);
    ASSERT_EQ(decode(*d, "spBv1.0/p/DBIRTH/n/b", payload(kT, 2, kDeviceBirth)).status, DecodeStatus::Ok);
    commit(*d, stored);
    ASSERT_EQ(stored.size(), 3U);

    // A Broken frame changes nothing, and the next message is no seq gap.
    EXPECT_EQ(decode(*d, "spBv1.0/p/DDATA/n/a", payload(kT, 3, {{.alias = 99, .kind = M::Int}})).status,
              DecodeStatus::Broken);
    std::vector<StateChange> none;
    d->take_state(none);
    EXPECT_TRUE(none.empty());
    // A metric with a name and an alias the BIRTH lacks: found by name.
    auto by_name = decode(*d, "spBv1.0/p/DDATA/n/a", payload(kT, 4, {{.name = "temp", .alias = 77, .kind = M::Double,
                                                                        .d = 5}}));
    ASSERT_EQ(by_name.status, DecodeStatus::Ok) << by_name.error;
    EXPECT_EQ(std::get<double>(field(by_name.records[0], "temp")->value), 5);
    EXPECT_EQ(counter("sluice_sparkplug_sequence_gaps_total", "t/deaths"), 0);

    // Commands are tagged; transient metrics get their own tagged record.
    auto cmd = decode(*d, "spBv1.0/p/DCMD/n/a", payload(kT, 0, {{.alias = 12, .kind = M::Bool, .u = 1}}));
    ASSERT_EQ(cmd.status, DecodeStatus::Ok) << cmd.error;
    EXPECT_EQ(*cmd.records[0].tag("command"), "true");
    auto tr = decode(*d, "spBv1.0/p/DDATA/n/b", payload(kT, 5, {{.alias = 10, .kind = M::Double, .d = 1},
                                                                 {.alias = 13, .kind = M::Float, .d = 2,
                                                                  .transient = true}}));
    ASSERT_EQ(tr.status, DecodeStatus::Ok);
    ASSERT_EQ(tr.records.size(), 2U);
    EXPECT_EQ(*tr.records[1].tag("transient"), "true");
    EXPECT_EQ(std::get<double>(field(tr.records[1], "ratio")->value), 2);

    // DDEATH: the device is offline and forgotten.
    auto dd = decode(*d, "spBv1.0/p/DDEATH/n/b", payload(kT + 5, 6, {}));
    ASSERT_EQ(dd.status, DecodeStatus::Ok);
    ASSERT_EQ(dd.records.size(), 1U);
    EXPECT_EQ(*dd.records[0].tag("device"), "b");
    EXPECT_FALSE(std::get<bool>(field(dd.records[0], "online")->value));
    // NBIRTH again: the node's devices are offline until their DBIRTH.
    auto rebirth = decode(*d, "spBv1.0/p/NBIRTH/n", payload(kT + 9, 0, kNodeBirth));
    ASSERT_EQ(rebirth.status, DecodeStatus::Ok);
    ASSERT_EQ(rebirth.records.size(), 3U);  // the metrics, a offline, n online
    EXPECT_EQ(rebirth.records[0].field("bdSeq"), nullptr);  // the session's number is no reading
    ASSERT_NE(rebirth.records[1].tag("device"), nullptr);
    EXPECT_EQ(*rebirth.records[1].tag("device"), "a");
    EXPECT_FALSE(std::get<bool>(field(rebirth.records[1], "online")->value));
    commit(*d, stored);
    EXPECT_EQ(stored.size(), 1U);
    EXPECT_TRUE(stored.contains("p/n"));

    // NDEATH: offline at its arrival (its payload was written at connect).
    auto death = decode(*d, "spBv1.0/p/NDEATH/n", payload(kT, 0, {{.name = "bdSeq", .datatype = 8,
                                                                    .kind = M::Long, .u = 3}}));
    ASSERT_EQ(death.records.size(), 1U);
    EXPECT_EQ(death.records[0].time_ns, 0);
}

TEST(SparkplugDecoder, HistoricalAndTransientOptionsAndLargeAliases) {
    SparkplugConfig c;
    c.historical = "drop";
    c.transient = "keep";
    std::map<std::string, std::string> stored;
    {
        auto d = opened("t/flags", &stored, c);
        ASSERT_EQ(decode(*d, "spBv1.0/p/NBIRTH/n",
                         payload(kT, 0, {{.name = "x", .alias = 18'446'744'073'709'551'615ULL, .datatype = 3,
                                          .kind = M::Int, .u = 1}}))
                      .status,
                  DecodeStatus::Ok);
        commit(*d, stored);
    }
    auto d = opened("t/flags", &stored, c);
    auto r = decode(*d, "spBv1.0/p/NDATA/n",
                    payload(kT, 1, {{.alias = 18'446'744'073'709'551'615ULL, .kind = M::Int, .u = 2},
                                    {.alias = 18'446'744'073'709'551'615ULL, .kind = M::Int, .u = 3,
                                     .historical = true}}));
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 1U);
    EXPECT_EQ(r.records[0].fields.size(), 1U);
    EXPECT_EQ(counter("sluice_sparkplug_dropped_metrics_total", "t/flags"), 1);

    // STATE/<host> of Sparkplug B before 3.0.
    auto legacy = decode(*d, "STATE/scada-2", "OFFLINE");
    ASSERT_EQ(legacy.status, DecodeStatus::Ok);
    EXPECT_EQ(*legacy.records[0].tag("host"), "scada-2");
    EXPECT_EQ(decode(*d, "STATE/a/b", "ONLINE").status, DecodeStatus::NotMine);
}

}  // namespace
}  // namespace sluice::decoders
