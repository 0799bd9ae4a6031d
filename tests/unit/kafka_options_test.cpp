#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/url.hpp"
#include "sinks/kafka/kafka_sink.hpp"

namespace sluice::kafka {
namespace {

RawEntry text(std::string key, std::string value) {
    RawEntry e;
    e.key = std::move(key);
    e.value.v = std::move(value);
    e.value.from_text = true;
    return e;
}

Options resolve(const RawTable& t) {
    const auto& d = components::sink_kafka();
    Diagnostics diag;
    Options o = resolve_options(d.options, t, "sink 'kafka'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return o;
}

std::string prop(const std::vector<Property>& props, std::string_view key) {
    std::string v = "<unset>";
    for (const auto& p : props) {
        if (p.key == key) {
            v = p.value;
        }
    }
    return v;
}

TEST(KafkaOptions, Defaults) {
    const auto props = producer_properties(resolve({text("brokers", "a:9092,b:9093")}));
    EXPECT_EQ(prop(props, "bootstrap.servers"), "a:9092,b:9093");
    EXPECT_EQ(prop(props, "enable.idempotence"), "true");
    EXPECT_EQ(prop(props, "acks"), "all");
    EXPECT_EQ(prop(props, "compression.codec"), "lz4");
    EXPECT_EQ(prop(props, "partitioner"), "murmur2_random");
    EXPECT_EQ(prop(props, "security.protocol"), "plaintext");
    EXPECT_EQ(prop(props, "sasl.password"), "<unset>");
}

TEST(KafkaOptions, TlsAndSaslAreMappedAndSecretsMarked) {
    const auto props = producer_properties(resolve({text("brokers", "a:9093"), text("security_protocol", "sasl_ssl"),
                                                    text("ssl_ca_location", "/etc/ca.pem"),
                                                    text("sasl_mechanism", "scram-sha-512"),
                                                    text("sasl_username", "gw"), text("sasl_password", "s3cret")}));
    EXPECT_EQ(prop(props, "ssl.ca.location"), "/etc/ca.pem");
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "https");
    EXPECT_EQ(prop(props, "sasl.mechanism"), "SCRAM-SHA-512");
    for (const auto& p : props) {
        EXPECT_EQ(p.secret, p.key == "sasl.password") << p.key;
    }
}

TEST(KafkaOptions, FactoryRejectsBadProperties) {
    const auto& d = components::sink_kafka();
    auto bad = [&](RawTable t) -> std::string {
        try {
            d.make_sink(resolve(t));
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(bad({text("brokers", "a:1"), text("rdkafka_properties", "batch.num.messages=abc")}).find("batch.num.messages"),
              std::string::npos);
    EXPECT_NE(bad({text("brokers", "a:1"), text("rdkafka_properties", "no.such.property=1")}).find("no.such.property"),
              std::string::npos);
    EXPECT_NE(bad({text("brokers", "a:1"), text("rdkafka_properties", "novalue")}).find("key=value"),
              std::string::npos);
    EXPECT_NE(bad({text("brokers", "a:1"), text("topic", "plant.{gateway")}).find("without its"), std::string::npos);
    EXPECT_NE(bad({text("brokers", "a:1"), text("acks", "1")}).find("idempotence"), std::string::npos);
    EXPECT_NE(bad({text("brokers", "a:1"), text("sasl_password", "hunter2")}).find("security_protocol"),
              std::string::npos);
    const std::string secret = bad({text("brokers", "a:1"), text("rdkafka_properties", "sasl.password=hunter2")});
    EXPECT_FALSE(secret.empty());
    EXPECT_EQ(secret.find("hunter2"), std::string::npos);
    EXPECT_EQ(bad({text("brokers", "a:1"), text("rdkafka_properties", "linger.ms=20,batch.num.messages=5000")}), "");
}

TEST(KafkaOptions, Url) {
    const auto& d = components::sink_kafka();
    std::string err;
    auto url = parse_url("kafka://broker:9094/plant.{gateway}?key={gateway}/{node}&compression=zstd", &err);
    ASSERT_TRUE(url.has_value()) << err;
    RawTable t;
    d.from_url(*url, t);
    const Options o = resolve(t);
    EXPECT_EQ(o.list("brokers"), std::vector<std::string>{"broker:9094"});
    EXPECT_EQ(o.str("topic"), "plant.{gateway}");
    EXPECT_EQ(o.str("key"), "{gateway}/{node}");
    EXPECT_EQ(o.str("compression"), "zstd");
}

}  // namespace
}  // namespace sluice::kafka
