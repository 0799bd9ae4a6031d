#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/url.hpp"
#include "sinks/kafka/kafka_sink.hpp"
#include "sources/kafka/kafka_source.hpp"

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

Options resolve_warned(const RawTable& t, Diagnostics& diag) {
    return resolve_options(components::sink_kafka().options, t, "sink 'kafka'", {}, diag);
}

std::string properties_error(const RawTable& t) {
    try {
        producer_properties(resolve(t));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(KafkaOptions, SharedTlsNamesMapToLibrdkafka) {
    const auto props = producer_properties(
        resolve({text("brokers", "a:9093"), text("security_protocol", "ssl"), text("ca_file", "/etc/ca.pem"),
                 text("cert_file", "/c.pem"), text("key_file", "/k.pem"), text("key_password", "pw")}));
    EXPECT_EQ(prop(props, "ssl.ca.location"), "/etc/ca.pem");
    EXPECT_EQ(prop(props, "ssl.certificate.location"), "/c.pem");
    EXPECT_EQ(prop(props, "ssl.key.location"), "/k.pem");
    EXPECT_EQ(prop(props, "ssl.key.password"), "pw");
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "https");
    EXPECT_EQ(prop(props, "enable.ssl.certificate.verification"), "<unset>");
    for (const auto& p : props) {
        EXPECT_EQ(p.secret, p.key == "ssl.key.password") << p.key;
    }
}

TEST(KafkaOptions, CaPathIsAnSslCaLocationToo) {
    const auto props = producer_properties(
        resolve({text("brokers", "a:9093"), text("security_protocol", "ssl"), text("ca_path", "/etc/ssl/certs")}));
    EXPECT_EQ(prop(props, "ssl.ca.location"), "/etc/ssl/certs");
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                text("ca_file", "/ca.pem"), text("ca_path", "/etc/ssl/certs")})
                  .find("ca_file and ca_path"),
              std::string::npos);
}

TEST(KafkaOptions, VerificationCanOnlyBeTurnedOffExplicitly) {
    auto props = producer_properties(
        resolve({text("brokers", "a:9093"), text("security_protocol", "ssl"), text("verify_hostname", "false")}));
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "none");
    EXPECT_EQ(prop(props, "enable.ssl.certificate.verification"), "<unset>");
    props = producer_properties(
        resolve({text("brokers", "a:9093"), text("security_protocol", "ssl"), text("insecure_skip_verify", "true")}));
    EXPECT_EQ(prop(props, "enable.ssl.certificate.verification"), "false");
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "none");
}

TEST(KafkaOptions, ServerNameIsRejected) {
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                text("server_name", "kafka.example")})
                  .find("server_name is not supported"),
              std::string::npos);
}

TEST(KafkaOptions, SharedTlsChecks) {
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                text("cert_file", "/c.pem")})
                  .find("cert_file and key_file go together"),
              std::string::npos);
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("ca_file", "/ca.pem")})
                  .find("kafka: ca_file needs security_protocol"),
              std::string::npos);
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("verify_hostname", "false")})
                  .find("kafka: verify_hostname needs security_protocol"),
              std::string::npos);
}

TEST(KafkaOptions, OldSslNamesAreDeprecatedAliases) {
    Diagnostics diag;
    const Options o = resolve_warned({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                      text("ssl_ca_location", "/etc/ca.pem"),
                                      text("ssl_certificate_location", "/c.pem"), text("ssl_key_location", "/k.pem"),
                                      text("ssl_key_password", "pw")},
                                     diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.str("ca_file"), "/etc/ca.pem");
    EXPECT_EQ(o.str("cert_file"), "/c.pem");
    EXPECT_EQ(o.str("key_file"), "/k.pem");
    EXPECT_EQ(o.str("key_password"), "pw");
    ASSERT_EQ(diag.warnings().size(), 4u);
    EXPECT_EQ(diag.warnings()[0].message, "option 'ssl_ca_location' for sink 'kafka' is deprecated, use 'ca_file'");
    EXPECT_EQ(diag.warnings()[3].message,
              "option 'ssl_key_password' for sink 'kafka' is deprecated, use 'key_password'");
    const auto props = producer_properties(o);
    EXPECT_EQ(prop(props, "ssl.ca.location"), "/etc/ca.pem");
    EXPECT_EQ(prop(props, "ssl.certificate.location"), "/c.pem");
    EXPECT_EQ(prop(props, "ssl.key.location"), "/k.pem");
    EXPECT_EQ(prop(props, "ssl.key.password"), "pw");

    Diagnostics both;
    resolve_warned({text("brokers", "a:9093"), text("ssl_ca_location", "/a.pem"), text("ca_file", "/b.pem")}, both);
    ASSERT_EQ(both.size(), 1u);
    EXPECT_NE(both.items()[0].message.find("'ssl_ca_location' is the deprecated name of 'ca_file'"),
              std::string::npos)
        << both.str();
}

TEST(KafkaOptions, OldEndpointIdentificationStillWorks) {
    auto props = producer_properties(resolve({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                              text("ssl_endpoint_identification", "none")}));
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "none");
    props = producer_properties(resolve({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                         text("ssl_endpoint_identification", "https")}));
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "https");
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("security_protocol", "ssl"),
                                text("ssl_endpoint_identification", "none"), text("verify_hostname", "true")})
                  .find("keep only verify_hostname"),
              std::string::npos);
    EXPECT_NE(properties_error({text("brokers", "a:9093"), text("ssl_endpoint_identification", "none")})
                  .find("needs security_protocol"),
              std::string::npos);
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

TEST(KafkaOptions, TransactionsKeepTheCursorInAGroupOfTheirOwn) {
    EXPECT_FALSE(transactions(resolve({text("brokers", "a:9092")})).has_value());
    const Options o = resolve({text("brokers", "a:9092"), text("topic", "readings"), text("transactional_id", "gw7.k"),
                               text("transaction_timeout", "30s")});
    const auto props = producer_properties(o);
    EXPECT_EQ(prop(props, "transactional.id"), "gw7.k");
    EXPECT_EQ(prop(props, "transaction.timeout.ms"), "30000");
    EXPECT_EQ(prop(props, "enable.idempotence"), "true");
    const auto t = transactions(o);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->group, "sluice-cursor.gw7.k");
    EXPECT_EQ(t->cursor_topic, "readings");  // the topic, which has no {names}
    EXPECT_EQ(t->timeout, std::chrono::seconds(30));
    // The cursor is read back by a read_committed consumer of that group
    // that commits nothing itself, over the same connection options.
    EXPECT_EQ(prop(t->reader_props, "group.id"), "sluice-cursor.gw7.k");
    EXPECT_EQ(prop(t->reader_props, "isolation.level"), "read_committed");
    EXPECT_EQ(prop(t->reader_props, "enable.auto.commit"), "false");
    EXPECT_EQ(prop(t->reader_props, "bootstrap.servers"), "a:9092");
    EXPECT_EQ(prop(t->reader_props, "transactional.id"), "<unset>");
    EXPECT_EQ(prop(t->reader_props, "acks"), "<unset>");
}

TEST(KafkaOptions, TransactionsRefuseWhatCannotWork) {
    auto error = [](RawTable t) -> std::string {
        try {
            components::sink_kafka().make_sink(resolve(t));
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    EXPECT_NE(error({text("brokers", "a:1"), text("transactional_id", "t"), text("topic", "plant.{gateway}")})
                  .find("cursor_topic"),
              std::string::npos);
    EXPECT_EQ(error({text("brokers", "a:1"), text("transactional_id", "t"), text("topic", "plant.{gateway}"),
                     text("cursor_topic", "plant")}),
              "");
    EXPECT_NE(error({text("brokers", "a:1"), text("transactional_id", "t"), text("idempotence", "false")})
                  .find("idempotence = true"),
              std::string::npos);
    EXPECT_NE(error({text("brokers", "a:1"), text("transactional_id", "t"), text("transaction_timeout", "10s"),
                     text("message_timeout", "20s")})
                  .find("transaction_timeout"),
              std::string::npos);
    // The properties have options of their own.
    EXPECT_NE(error({text("brokers", "a:1"), text("rdkafka_properties", "transactional.id=x")}).find("transactional.id"),
              std::string::npos);
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

namespace sluice::kafka {
namespace {

Options resolve_source(const RawTable& t) {
    Diagnostics diag;
    Options o = resolve_options(components::source_kafka().options, t, "source 'kafka'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return o;
}

std::string source_error(const RawTable& t) {
    try {
        components::source_kafka().make_source(resolve_source(t));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(KafkaSourceOptions, OffsetsAreStoredBySluiceAndCommittedByLibrdkafka) {
    const auto props = consumer_properties(resolve_source({text("brokers", "a:9092"), text("topics", "t1,^plant\\..*")}));
    EXPECT_EQ(prop(props, "bootstrap.servers"), "a:9092");
    EXPECT_EQ(prop(props, "enable.auto.offset.store"), "false");
    EXPECT_EQ(prop(props, "enable.auto.commit"), "true");
    EXPECT_EQ(prop(props, "auto.commit.interval.ms"), "1000");
    EXPECT_EQ(prop(props, "auto.offset.reset"), "earliest");
    EXPECT_EQ(prop(props, "group.id"), "<unset>");  // added at start, from the pipeline's name when not set
    EXPECT_EQ(prop(props, "client.id"), "sluice");
}

TEST(KafkaSourceOptions, SharedConnectionOptionsMapAsForTheSink) {
    const auto props = consumer_properties(resolve_source(
        {text("brokers", "a:9093"), text("topics", "t"), text("security_protocol", "sasl_ssl"),
         text("ca_file", "/etc/ca.pem"), text("sasl_username", "gw"), text("sasl_password", "s3cret")}));
    EXPECT_EQ(prop(props, "ssl.ca.location"), "/etc/ca.pem");
    EXPECT_EQ(prop(props, "ssl.endpoint.identification.algorithm"), "https");
    for (const auto& p : props) {
        EXPECT_EQ(p.secret, p.key == "sasl.password") << p.key;
    }
}

TEST(KafkaSourceOptions, ConfigErrorsNameTheProblem) {
    EXPECT_NE(source_error({text("brokers", "a:9092"), text("topics", "t"),
                            text("rdkafka_properties", "enable.auto.offset.store=true")})
                  .find("set enable.auto.offset.store through its own option"),
              std::string::npos);
    EXPECT_NE(source_error({text("brokers", "a:9092"), text("topics", "t"), text("rdkafka_properties", "group.id=x")})
                  .find("set group.id through its own option"),
              std::string::npos);
    EXPECT_NE(source_error({text("brokers", "a:9092"), text("topics", "t"), text("origin", "{topic")})
                  .find("kafka: origin:"),
              std::string::npos);
    EXPECT_NE(source_error({text("brokers", "a:9092"), text("topics", "t"),
                            text("rdkafka_properties", "fetch.max.bytes=-4")})
                  .find("kafka: "),
              std::string::npos);
    EXPECT_NE(source_error({text("brokers", "a:9092"), text("topics", "t"),
                            text("rdkafka_properties", "enable.ssl.certificate.verification=false")})
                  .find("through its own option"),
              std::string::npos);
    EXPECT_EQ(source_error({text("brokers", "a:9092"), text("topics", "t"), text("group_id", "plant-7"),
                            text("origin", "{topic}/{key}")}),
              "");
}

}  // namespace
}  // namespace sluice::kafka
