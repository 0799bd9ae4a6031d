// `sluice relay SOURCE_URL [SINK_URL]`

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_registry.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using sluice::testing::config_test_registry;
using Errors = std::vector<std::string>;

GatewayConfig must_parse(std::string_view source, std::string_view sink = {}) {
    Diagnostics diag;
    auto cfg = parse_relay(source, sink, config_test_registry(), diag);
    EXPECT_TRUE(cfg.has_value()) << source << " " << sink << "\n" << diag.str();
    return cfg ? std::move(*cfg) : GatewayConfig{};
}

Errors errors_of(std::string_view source, std::string_view sink = {}) {
    Diagnostics diag;
    auto cfg = parse_relay(source, sink, config_test_registry(), diag);
    EXPECT_FALSE(cfg.has_value()) << source << " " << sink;
    Errors out;
    for (const auto& d : diag.items()) {
        out.push_back(d.str());
    }
    return out;
}

TEST(Relay, FileToFile) {
    GatewayConfig cfg = must_parse("file:///var/log/sensors.log?decode=json,influx", "file:///tmp/out.ndjson");
    EXPECT_EQ(cfg.origin, "relay");
    ASSERT_EQ(cfg.pipelines.size(), 1u);
    const PipelineSpec& p = cfg.pipelines[0];
    ASSERT_EQ(p.sources.size(), 1u);
    EXPECT_EQ(p.sources[0].type, "file");
    EXPECT_EQ(p.sources[0].options.str("path"), "/var/log/sensors.log");
    EXPECT_EQ(p.sources[0].options.pos("path").str(), "relay:1:8");
    ASSERT_EQ(p.sources[0].decoders.size(), 2u);
    EXPECT_EQ(p.sources[0].decoders[1].type, "influx");
    ASSERT_EQ(p.sinks.size(), 1u);
    EXPECT_EQ(p.sinks[0].type, "file");
    EXPECT_EQ(p.sinks[0].options.str("path"), "/tmp/out.ndjson");
    EXPECT_NE(p.sources[0].id, p.sinks[0].id);
}

TEST(Relay, DefaultsAndDash) {
    GatewayConfig cfg = must_parse("-");
    EXPECT_EQ(cfg.pipelines[0].sources[0].type, "stdin");
    EXPECT_EQ(cfg.pipelines[0].sinks[0].type, "stdout");
    cfg = must_parse("-", "-");
    EXPECT_EQ(cfg.pipelines[0].sinks[0].type, "stdout");
    cfg = must_parse("stdin:", "stdout:?format=influx");
    EXPECT_EQ(cfg.pipelines[0].sinks[0].options.str("format"), "influx");
}

TEST(Relay, PercentDecodingAndQueryOptions) {
    GatewayConfig cfg = must_parse(
        "file:///var/log/a%23b%20c.log?poll=250ms&follow=no&decode=csv&csv.columns=t,v&csv.separator=%3B"
        "&buffer.max_bytes=1MiB&buffer.overflow=block&pipeline.batch_max_records=10",
        "file:///tmp/out?batch_size=7&max_files=2");
    const PipelineSpec& p = cfg.pipelines[0];
    const SourceSpec& s = p.sources[0];
    EXPECT_EQ(s.options.str("path"), "/var/log/a#b c.log");
    EXPECT_EQ(s.options.duration("poll"), 250ms);
    EXPECT_FALSE(s.options.boolean("follow"));
    ASSERT_EQ(s.decoders.size(), 1u);
    EXPECT_EQ(s.decoders[0].options.list("columns"), (std::vector<std::string>{"t", "v"}));
    EXPECT_EQ(s.decoders[0].options.str("separator"), ";");
    EXPECT_EQ(p.buffer.size("max_bytes"), 1u << 20);
    EXPECT_EQ(p.buffer.str("overflow"), "block");
    EXPECT_EQ(p.options.integer("batch_max_records"), 10);
    EXPECT_EQ(p.sinks[0].options.integer("batch_size"), 7);
    EXPECT_EQ(p.sinks[0].options.integer("max_files"), 2);
}

TEST(Relay, FromUrlHook) {
    GatewayConfig cfg = must_parse("mqtt://:pw@broker:1884/plant/%23?qos=1&decode=json");
    const SourceSpec& s = cfg.pipelines[0].sources[0];
    EXPECT_EQ(s.type, "mqtt");
    EXPECT_EQ(s.options.str("host"), "broker");
    EXPECT_EQ(s.options.integer("port"), 1884);
    EXPECT_EQ(s.options.str("password"), "pw");
    EXPECT_EQ(s.options.list("topics"), (std::vector<std::string>{"plant/#"}));
    EXPECT_EQ(s.options.integer("qos"), 1);
    ASSERT_EQ(s.decoders.size(), 1u);  // decode is taken out before from_url
    cfg = must_parse("mqtts://broker/a");
    EXPECT_EQ(cfg.pipelines[0].sources[0].type, "mqtt");
}

TEST(Relay, Errors) {
    EXPECT_EQ(errors_of("fiel:///x"), Errors{"relay:1:1: unknown source URL scheme 'fiel:' (did you mean 'file:'?)"});
    EXPECT_EQ(errors_of("kafka://x"),
              Errors{"relay:1:1: unknown source URL scheme 'kafka:' (known: file:, mqtt:, mqtts:, stdin:)"});
    EXPECT_EQ(errors_of("-", "http://x"),
              Errors{"relay:2:1: unknown sink URL scheme 'http:' (known: file:, stdout:)"});
    EXPECT_EQ(errors_of("/var/log/x.log"),
              Errors{"relay:1:1: invalid source URL: '/var/log/x.log' is not a URL: for a file write "
                     "file:///var/log/x.log"});
    EXPECT_EQ(errors_of("file:///x?pol=1s"),
              Errors{"relay:1:11: unknown option 'pol' for source 'file' (did you mean 'poll'?)"});
    EXPECT_EQ(errors_of("file:///x?poll=1"),
              Errors{"relay:1:16: option 'poll' for source 'file': invalid duration \"1\": duration needs a unit, "
                     "e.g. \"10s\" (units: ns, us, ms, s, m, h, d)"});
    EXPECT_EQ(errors_of("file://var/log/x"),
              Errors{"relay:1:1: source 'file' URLs have no host part; for a path write file:///path (three slashes) "
                     "or file:relative/path"});
    EXPECT_EQ(errors_of("file:///x?decode=jsn"), Errors{"relay:1:18: unknown decoder 'jsn' (did you mean 'json'?)"});
    EXPECT_EQ(errors_of("file:///x?buffer.max_byte=1MiB"),
              Errors{"relay:1:18: unknown option 'max_byte' for buffer (did you mean 'max_bytes'?)"});
    EXPECT_EQ(errors_of("-", "stdout:?csv.columns=a"),
              Errors{"relay:2:9: unknown parameter 'csv.columns' in the sink URL (decoder options belong to the "
                     "source URL)"});
    EXPECT_EQ(errors_of("-", "stdout:/x"), Errors{"relay:2:8: sink 'stdout' URLs take no path"});
    EXPECT_EQ(errors_of("mqtt://h/plant/#"),
              Errors{"relay:1:1: invalid source URL: URL fragments ('#...') are not supported; write a literal '#' "
                     "as %23"});
    EXPECT_EQ(errors_of("file:"), Errors{"relay:1:1: source 'file' needs option 'path'"});
}

}  // namespace
}  // namespace sluice
