// The mqtt sink's option checks and relay URL (no broker needed; the broker
// tests are tests/integration/test_mqtt_sink.py).

#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/url.hpp"

namespace sluice::components {
const Descriptor& sink_mqtt();
}

namespace sluice {
namespace {

// The error make_sink throws for these options, "" if none.
std::string sink_error(RawTable t) {
    Diagnostics diag;
    const Options o = resolve_options(components::sink_mqtt().options, t, "sink 'mqtt'", {}, diag);
    if (!diag.empty()) {
        return diag.str();
    }
    try {
        components::sink_mqtt().make_sink(o);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(MqttSink, ChecksTopicAndProtocolOptions) {
    EXPECT_EQ(sink_error({text_entry("topic", "plant/{gateway}/{node}")}), "");
    EXPECT_NE(sink_error({text_entry("topic", "plant/+/x")}).find("wildcard"), std::string::npos);
    EXPECT_NE(sink_error({text_entry("topic", "plant/#")}).find("wildcard"), std::string::npos);
    EXPECT_NE(sink_error({text_entry("topic", "plant/{node")}).find("option 'topic'"), std::string::npos);
    EXPECT_NE(sink_error({}).find("topic"), std::string::npos);  // required
    EXPECT_NE(sink_error({text_entry("topic", "t"), text_entry("user_properties", "true")}).find("protocol = \"5\""),
              std::string::npos);
    EXPECT_EQ(sink_error({text_entry("topic", "t"), text_entry("user_properties", "true"), text_entry("protocol", "5")}),
              "");
    EXPECT_NE(sink_error({text_entry("topic", "t"), text_entry("server_name", "x")}).find("server_name"),
              std::string::npos);
    EXPECT_NE(sink_error({text_entry("topic", "t"), text_entry("format", "avro")}).find("format"), std::string::npos);
}

TEST(MqttSink, ReconnectsFollowTheRunnersRetryOptions) {
    // One retry rule: a sink's reconnects are the runner's retries.
    EXPECT_NE(sink_error({text_entry("topic", "t"), text_entry("reconnect_max", "5s")}), "");
    for (const auto& spec : components::sink_mqtt().options) {
        EXPECT_NE(spec.name, "reconnect_initial");
        EXPECT_NE(spec.name, "reconnect_max");
    }
}

TEST(MqttSink, RelayUrl) {
    std::string err;
    auto url = parse_url("mqtts://u:pw@broker:8884/plant/line1?qos=2&retain=true", &err);
    ASSERT_TRUE(url) << err;
    RawTable t;
    components::sink_mqtt().from_url(*url, t);
    EXPECT_EQ(*find_entry(t, "server")->value.as_string(), "ssl://broker:8884");
    EXPECT_EQ(*find_entry(t, "topic")->value.as_string(), "plant/line1");
    EXPECT_EQ(*find_entry(t, "qos")->value.as_string(), "2");
    EXPECT_EQ(*find_entry(t, "password")->value.as_string(), "pw");
}

}  // namespace
}  // namespace sluice
