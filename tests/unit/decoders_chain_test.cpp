#include <gtest/gtest.h>

#include "core/metrics.hpp"
#include "core/registry.hpp"
#include "decoders/chain.hpp"
#include "decoders/csv/csv.hpp"
#include "decoders/influx/influx.hpp"
#include "decoders/json/json.hpp"
#include "decoders/logfmt/logfmt.hpp"
#include "decoders/scalar/scalar.hpp"

namespace sluice {
namespace {

constexpr TimeNs kArrival = 1'800'000'000'000'000'000;

Frame frame(std::string payload, std::string origin = "sensors/hall") {
    Frame f;
    f.payload = std::move(payload);
    f.origin = std::move(origin);
    f.arrival_ns = kArrival;
    return f;
}

// A decoder that answers what it is told, to pin down the chain's own logic.
class Scripted final : public Decoder {
public:
    explicit Scripted(DecodeStatus s, std::string error = {}) : status_(s), error_(std::move(error)) {}
    DecodeStatus decode(const Frame& f, std::vector<Record>& out, std::string& error) override {
        ++calls;
        if (status_ == DecodeStatus::Ok) {
            Record& r = out.emplace_back();
            r.origin = f.origin;
            r.fields.push_back({"v", std::int64_t{1}});
        } else if (status_ == DecodeStatus::Broken) {
            error = error_;
        }
        return status_;
    }
    int calls = 0;

private:
    DecodeStatus status_;
    std::string error_;
};

std::vector<DecoderChain::Entry> standard_entries(const std::string& csv_columns = "") {
    std::vector<DecoderChain::Entry> e;
    e.push_back({"json", decoders::make_json_decoder()});
    e.push_back({"influx", decoders::make_influx_decoder()});
    decoders::CsvConfig csv;
    if (!csv_columns.empty()) {
        csv.columns = {"time", "sensor", "temp", "hum"};
    }
    e.push_back({"csv", decoders::make_csv_decoder(csv)});
    e.push_back({"logfmt", decoders::make_logfmt_decoder()});
    e.push_back({"scalar", decoders::make_scalar_decoder()});
    return e;
}

std::uint64_t counter(std::string_view name, const Labels& labels) {
    return metrics().counter(name, "", labels).value();
}

TEST(DecoderChain, MixedFramesFindTheirDecoder) {
    DecoderChain chain(standard_entries("x"), "test/mixed");
    std::vector<Record> out;
    DeadLetter dead;

    ASSERT_TRUE(chain.decode(frame(R"({"sensor":"t1","temp":21.5,"ts":1700000000})"), out, dead));
    ASSERT_TRUE(chain.decode(frame("weather,room=hall temp=20.5 1700000001"), out, dead));
    ASSERT_TRUE(chain.decode(frame("1700000002,t2,19.5,40"), out, dead));
    ASSERT_TRUE(chain.decode(frame("level=info temp=18.5"), out, dead));
    ASSERT_TRUE(chain.decode(frame("17.5\n"), out, dead));
    ASSERT_EQ(out.size(), 5u);

    EXPECT_EQ(out[0].time_ns, 1700000000'000'000'000);
    EXPECT_EQ(out[1].measurement, "weather");
    EXPECT_EQ(out[1].time_ns, 1700000001'000'000'000);
    EXPECT_EQ(out[2].time_ns, 1700000002'000'000'000);
    EXPECT_NE(out[2].field("sensor"), nullptr);
    // No time in the payload: the frame's arrival time.
    EXPECT_EQ(out[3].time_ns, kArrival);
    EXPECT_EQ(out[4].time_ns, kArrival);
    EXPECT_NE(out[4].field("value"), nullptr);
    for (const auto& r : out) {
        EXPECT_EQ(r.origin, "sensors/hall");
    }

    for (const char* d : {"json", "influx", "csv", "logfmt", "scalar"}) {
        EXPECT_EQ(counter("sluice_decoder_frames_total", {{"component", "test/mixed"}, {"decoder", d}}), 1u) << d;
    }
    EXPECT_EQ(counter("sluice_decode_dead_letters_total", {{"component", "test/mixed"}}), 0u);
}

TEST(DecoderChain, DeadLetterListsEveryVerdict) {
    DecoderChain chain(standard_entries(), "test/dead");
    std::vector<Record> out(1);
    DeadLetter dead;
    Frame f = frame("cpu,host=a usage=high");
    ASSERT_FALSE(chain.decode(f, out, dead));
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(dead.stage, "decode");
    EXPECT_EQ(dead.origin, "sensors/hall");
    EXPECT_EQ(dead.time_ns, kArrival);
    EXPECT_EQ(dead.payload, f.payload);
    EXPECT_EQ(dead.reason,
              "no decoder accepted the frame: json: not mine; "
              "influx: line 1: field value 'high' at column 18 is not a number; "
              "csv: not mine; logfmt: not mine; scalar: not mine");
    EXPECT_EQ(counter("sluice_decoder_failures_total", {{"component", "test/dead"}, {"decoder", "influx"}}), 1u);
    EXPECT_EQ(counter("sluice_decoder_failures_total", {{"component", "test/dead"}, {"decoder", "json"}}), 0u);
    EXPECT_EQ(counter("sluice_decode_dead_letters_total", {{"component", "test/dead"}}), 1u);

    ASSERT_FALSE(chain.decode(frame("{\"a\":"), out, dead));
    EXPECT_EQ(dead.reason,
              "no decoder accepted the frame: json: Invalid value (offset 5); influx: not mine; csv: not mine; "
              "logfmt: not mine; scalar: not mine");
    EXPECT_EQ(counter("sluice_decode_dead_letters_total", {{"component", "test/dead"}}), 2u);
}

TEST(DecoderChain, BrokenDoesNotStopTheChain) {
    std::vector<DecoderChain::Entry> e;
    auto first = std::make_unique<Scripted>(DecodeStatus::Broken, "first: looks wrong");
    auto second = std::make_unique<Scripted>(DecodeStatus::Ok);
    Scripted* second_raw = second.get();
    e.push_back({"first", std::move(first)});
    e.push_back({"second", std::move(second)});
    DecoderChain chain(std::move(e), "test/broken-continues");
    std::vector<Record> out;
    DeadLetter dead;
    ASSERT_TRUE(chain.decode(frame("x"), out, dead));
    EXPECT_EQ(second_raw->calls, 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].time_ns, kArrival);
    EXPECT_EQ(counter("sluice_decoder_failures_total", {{"component", "test/broken-continues"}, {"decoder", "first"}}),
              1u);
}

TEST(DecoderChain, StopsAtFirstOkAndNamesUnnamedErrors) {
    std::vector<DecoderChain::Entry> e;
    e.push_back({"a", std::make_unique<Scripted>(DecodeStatus::Ok)});
    auto never = std::make_unique<Scripted>(DecodeStatus::Ok);
    Scripted* never_raw = never.get();
    e.push_back({"b", std::move(never)});
    DecoderChain chain(std::move(e), "test/first-ok");
    std::vector<Record> out;
    DeadLetter dead;
    ASSERT_TRUE(chain.decode(frame("x"), out, dead));
    EXPECT_EQ(never_raw->calls, 0);

    std::vector<DecoderChain::Entry> e2;
    e2.push_back({"quiet", std::make_unique<Scripted>(DecodeStatus::Broken, "bad thing")});
    e2.push_back({"silent", std::make_unique<Scripted>(DecodeStatus::Broken, "")});
    DecoderChain chain2(std::move(e2), "test/unnamed");
    ASSERT_FALSE(chain2.decode(frame("x"), out, dead));
    EXPECT_EQ(dead.reason, "no decoder accepted the frame: quiet: bad thing; silent: broken (no reason given)");
}

TEST(DecoderChain, KeepsExistingTimesAndOutput) {
    DecoderChain chain(standard_entries(), "test/times");
    std::vector<Record> out(2);
    out[0].time_ns = 0;  // earlier records are not the chain's business
    DeadLetter dead;
    ASSERT_TRUE(chain.decode(frame("[{\"a\":1,\"time\":5},{\"a\":2}]"), out, dead));
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].time_ns, 0);
    EXPECT_EQ(out[2].time_ns, 5'000'000'000);
    EXPECT_EQ(out[3].time_ns, kArrival);
}

TEST(DecoderChain, DeadLetterPayloadIsCut) {
    DecoderChain chain(standard_entries(), "test/big");
    std::vector<Record> out;
    DeadLetter dead;
    ASSERT_FALSE(chain.decode(frame(std::string(100 * 1024, '!')), out, dead));
    EXPECT_EQ(dead.payload.size(), DecoderChain::kMaxDeadLetterPayload);
}

TEST(DecoderChain, EmptyChain) {
    DecoderChain chain({}, "test/empty");
    std::vector<Record> out;
    DeadLetter dead;
    EXPECT_FALSE(chain.decode(frame("1"), out, dead));
    EXPECT_EQ(dead.reason, "no decoders configured");
}

TEST(DecoderChain, LogfmtAfterInfluxFailure) {
    // An ambiguous line: influx sees a bad field value, logfmt reads it.
    DecoderChain chain(standard_entries(), "test/ambiguous");
    std::vector<Record> out;
    DeadLetter dead;
    ASSERT_TRUE(chain.decode(frame("started msg=hello"), out, dead)) << dead.reason;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_NE(out[0].field("started"), nullptr);
    EXPECT_NE(out[0].field("msg"), nullptr);
}

TEST(MakeDecoderEntries, FromRegistry) {
    Registry reg;
    reg.add(components::decoder_json());
    reg.add(components::decoder_influx());
    reg.add(components::decoder_csv());
    reg.add(components::decoder_logfmt());
    reg.add(components::decoder_scalar());

    std::vector<DecoderConfig> cfg(2);
    cfg[0].name = "csv";
    cfg[0].options.set("columns", {OptionType::List, std::vector<std::string>{"a", "b"}, {}, true});
    cfg[1].name = "scalar";
    auto entries = make_decoder_entries(reg, cfg);
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].name, "csv");
    DecoderChain chain(std::move(entries), "test/registry");
    std::vector<Record> out;
    DeadLetter dead;
    ASSERT_TRUE(chain.decode(frame("1,2"), out, dead));
    EXPECT_NE(out.at(0).field("b"), nullptr);

    std::vector<DecoderConfig> unknown(1);
    unknown[0].name = "xml";
    try {
        make_decoder_entries(reg, unknown);
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_STREQ(e.what(), "unknown decoder 'xml' (known decoders: csv, influx, json, logfmt, scalar)");
    }

    std::vector<DecoderConfig> bad(1);
    bad[0].name = "csv";
    bad[0].options.set("decimal_comma", {OptionType::Bool, true, {}, true});
    try {
        make_decoder_entries(reg, bad);
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()).rfind("decoder 'csv': decimal_comma", 0), 0u) << e.what();
    }
}

}  // namespace
}  // namespace sluice
