#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/backoff.hpp"
#include "core/component.hpp"
#include "core/url.hpp"
#include "core/identity.hpp"
#include "sources/mqtt/mqtt_config.hpp"
#include "sources/mqtt/unsaved_window.hpp"

namespace sluice::components {
const Descriptor& source_mqtt();
}

namespace sluice::mqtt {
namespace {

Server server(std::string_view text) {
    std::string err;
    auto s = normalise_server(text, &err);
    EXPECT_TRUE(s.has_value()) << text << ": " << err;
    return s.value_or(Server{});
}

std::string server_error(std::string_view text) {
    std::string err;
    EXPECT_FALSE(normalise_server(text, &err).has_value()) << text;
    return err;
}

TEST(MqttServer, Normalises) {
    EXPECT_EQ(server("tcp://broker:1883").uri, "tcp://broker:1883");
    EXPECT_EQ(server("mqtt://broker").uri, "tcp://broker:1883");
    EXPECT_EQ(server("mqtts://broker").uri, "ssl://broker:8883");
    EXPECT_EQ(server("SSL://10.0.0.1:9000").uri, "ssl://10.0.0.1:9000");
    EXPECT_EQ(server("broker:1884").uri, "tcp://broker:1884");
    EXPECT_EQ(server("broker").uri, "tcp://broker:1883");
    EXPECT_EQ(server("tcp://[::1]:1883").host, "[::1]");
    EXPECT_EQ(server("tcp://broker:1883/").uri, "tcp://broker:1883");
    Server s = server("mqtts://h:1");
    EXPECT_TRUE(s.tls);
    EXPECT_EQ(s.host, "h");
    EXPECT_EQ(s.port, 1);
}

TEST(MqttServer, Rejects) {
    EXPECT_NE(server_error("ws://broker").find("unsupported scheme"), std::string::npos);
    EXPECT_NE(server_error("tcp://broker:99999").find("invalid port"), std::string::npos);
    EXPECT_NE(server_error("tcp://broker:x").find("invalid port"), std::string::npos);
    EXPECT_NE(server_error("tcp://:1883").find("no host"), std::string::npos);
    EXPECT_NE(server_error("tcp://broker/sensors/#").find("topics"), std::string::npos);
}

const RawEntry* entry(const RawTable& t, std::string_view key) { return find_entry(t, key); }

std::vector<std::string> topics_of(const RawTable& t) {
    std::vector<std::string> out;
    const RawEntry* e = entry(t, "topics");
    if (e == nullptr || e->value.as_array() == nullptr) {
        return out;
    }
    for (const auto& v : *e->value.as_array()) {
        out.push_back(*v.as_string());
    }
    return out;
}

TEST(MqttUrl, MapsToOptions) {
    std::string err;
    auto url = parse_url("mqtt://user:pw@host:1884/sensors/%23?qos=2&topics=a/+/b,c&topology=wan", &err);
    ASSERT_TRUE(url) << err;
    RawTable t;
    from_url(*url, t);
    EXPECT_EQ(*entry(t, "server")->value.as_string(), "tcp://host:1884");
    EXPECT_EQ(*entry(t, "user")->value.as_string(), "user");
    EXPECT_EQ(*entry(t, "password")->value.as_string(), "pw");
    EXPECT_EQ(*entry(t, "qos")->value.as_string(), "2");
    EXPECT_EQ(*entry(t, "topology")->value.as_string(), "wan");
    EXPECT_EQ(topics_of(t), (std::vector<std::string>{"sensors/#", "a/+/b", "c"}));

    url = parse_url("mqtts://broker/x", &err);
    ASSERT_TRUE(url) << err;
    RawTable t2;
    from_url(*url, t2);
    EXPECT_EQ(*entry(t2, "server")->value.as_string(), "ssl://broker:8883");
    EXPECT_EQ(topics_of(t2), std::vector<std::string>{"x"});
}

TEST(MqttUrl, NeedsHost) {
    std::string err;
    auto url = parse_url("mqtt:///x", &err);
    ASSERT_TRUE(url) << err;
    RawTable t;
    EXPECT_THROW(from_url(*url, t), ConfigError);
}

TEST(MqttClientId, StableAndSafe) {
    EXPECT_EQ(default_client_id("gw-1", "0123456789ab", "c0de", "main/broker"),
              "sluice-gw-1-0123456789ab-c0de-main-broker");
    EXPECT_EQ(default_client_id("", "", "", "p/s id"), "sluice-gw-p-s-id");
    EXPECT_EQ(default_client_id("a", "m", "d", "p/s"), default_client_id("a", "m", "d", "p/s"));
    // Cloned boards (same host name) and two instances on one machine differ.
    EXPECT_NE(default_client_id("a", "m1", "d", "p/s"), default_client_id("a", "m2", "d", "p/s"));
    EXPECT_NE(default_client_id("a", "m", "d1", "p/s"), default_client_id("a", "m", "d2", "p/s"));
    EXPECT_EQ(default_client_id(std::string(100, 'h'), "m", "d", "p/s"),
              "sluice-" + std::string(24, 'h') + "-m-d-p-s");
}

// The MQTT source reconnects by the one retry rule (core/backoff.hpp), seeded per client.
TEST(MqttBackoff, GrowsWithJitterAndCaps) {
    Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 42);
    std::int64_t expected_max = 100;
    for (int i = 0; i < 10; ++i) {
        const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(b.next()).count();
        EXPECT_GE(d, expected_max / 2) << i;
        EXPECT_LE(d, expected_max) << i;
        expected_max = std::min<std::int64_t>(expected_max * 2, 1000);
    }
    b.reset();
    EXPECT_LE(b.next(), std::chrono::milliseconds(100));
}

TEST(MqttTls, ExplainsFailures) {
    const std::string ca = explain_tls_failure("127.0.0.1:8883", "certificate verify failed",
                                               "certificate verify failed: self-signed certificate in certificate chain");
    EXPECT_NE(ca.find("TLS handshake with 127.0.0.1:8883 failed: certificate verify failed"), std::string::npos) << ca;
    EXPECT_NE(ca.find("check ca_file"), std::string::npos) << ca;
    const std::string host = explain_tls_failure(
        "127.0.0.1:8883", "", "the server certificate does not match '127.0.0.1' (it is for DNS:other.example)");
    EXPECT_NE(host.find("does not match '127.0.0.1'"), std::string::npos) << host;
    EXPECT_NE(host.find("other.example"), std::string::npos) << host;
    EXPECT_NE(explain_tls_failure("h:1", "", "").find("handshake refused"), std::string::npos);
}

std::string settings_error(RawTable t) {
    Diagnostics diag;
    const Options o = resolve_options(components::source_mqtt().options, t, "source 'mqtt'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    try {
        settings_from(o);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(MqttTls, SharedOptions) {
    RawTable t = {text_entry("topics", "a/#"), text_entry("server", "mqtts://broker"),
                  text_entry("ca_path", "/etc/ssl/certs"), text_entry("cert_file", "/c.pem"),
                  text_entry("key_file", "/k.pem"), text_entry("key_password", "pw"),
                  text_entry("verify_hostname", "false")};
    Diagnostics diag;
    const Settings s = settings_from(resolve_options(components::source_mqtt().options, t, "source 'mqtt'", {}, diag));
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(s.ca_path, "/etc/ssl/certs");
    EXPECT_EQ(s.cert_file, "/c.pem");
    EXPECT_EQ(s.key_file, "/k.pem");
    EXPECT_EQ(s.key_password, "pw");
    EXPECT_FALSE(s.verify_hostname);
    EXPECT_FALSE(s.insecure_skip_verify);
}

TEST(MqttTls, SharedChecks) {
    const RawEntry topics = text_entry("topics", "a/#");
    const RawEntry tls = text_entry("server", "mqtts://broker");
    EXPECT_NE(settings_error({topics, tls, text_entry("cert_file", "/c.pem")}).find("cert_file and key_file go together"),
              std::string::npos);
    EXPECT_NE(settings_error({topics, tls, text_entry("insecure_skip_verify", "true"), text_entry("ca_file", "/a")})
                  .find("insecure_skip_verify = true ignores ca_file/ca_path"),
              std::string::npos);
    EXPECT_NE(settings_error({topics, tls, text_entry("server_name", "b.example")}).find("server_name"),
              std::string::npos);
    EXPECT_NE(settings_error({topics, text_entry("ca_file", "/a")}).find("is not TLS"), std::string::npos);
    EXPECT_EQ(settings_error({topics, tls}), "");
}

TEST(MqttShared, ConnectionsAndShareGroup) {
    const RawEntry topics = text_entry("topics", "a/#");
    EXPECT_EQ(settings_error({topics, text_entry("connections", "3")}), "");
    EXPECT_NE(settings_error({topics, text_entry("share_group", "g")}).find("connections is 1"), std::string::npos);
    EXPECT_NE(settings_error({topics, text_entry("connections", "2"), text_entry("share_group", "a/b")})
                  .find("must not contain"),
              std::string::npos);
    EXPECT_NE(settings_error({text_entry("topics", "$share/g/a/#"), text_entry("connections", "2")})
                  .find("already names a shared subscription"),
              std::string::npos);
    EXPECT_NE(settings_error({topics, text_entry("connections", "4"), text_entry("max_unsaved_messages", "3")})
                  .find("must be at least connections"),
              std::string::npos);

    Settings s;
    EXPECT_EQ(share_group_name(s, "gw/1+x#"), "gw_1_x_");
    s.share_group = "plant";
    EXPECT_EQ(share_group_name(s, "gw"), "plant");
    EXPECT_EQ(shared_filter("plant", "sensors/+/t"), "$share/plant/sensors/+/t");
}

}  // namespace
// The default client id's machine and data directory parts.
TEST(MqttIdentity, MachineAndDataDirTags) {
    const std::string m = machine_tag();
    EXPECT_EQ(m.size(), 12u);
    EXPECT_EQ(m, machine_tag());
    EXPECT_EQ(m.find_first_not_of("0123456789abcdef"), std::string::npos) << m;
    set_data_dir("/var/lib/sluice");
    const std::string a = data_dir_tag();
    set_data_dir("/var/lib/sluice/");
    EXPECT_EQ(a, data_dir_tag());
    set_data_dir("/var/lib/sluice-2");
    EXPECT_NE(a, data_dir_tag());
    set_data_dir("/tmp/x/a");
    const std::string xa = data_dir_tag();
    set_data_dir("/tmp/x/b");
    EXPECT_NE(xa, data_dir_tag());  // one last character apart
    EXPECT_EQ(a.size(), 4u);
    EXPECT_EQ(short_hash("abc", 8), short_hash("abc", 8));
    EXPECT_NE(short_hash("abc", 8), short_hash("abd", 8));
}

// The window counts what was taken from Paho until the worker reports its commit.
TEST(MqttUnsavedWindow, FillsAndEmptiesWithCommits) {
    UnsavedWindow w(3);
    const std::atomic<bool> no{false};
    EXPECT_FALSE(w.full());
    w.received();
    w.received(2);
    EXPECT_TRUE(w.full());
    EXPECT_EQ(w.unsaved(), 3u);
    EXPECT_FALSE(w.wait_for_room(std::chrono::milliseconds(1), no));
    w.committed(2);
    EXPECT_FALSE(w.full());
    EXPECT_TRUE(w.wait_for_room(std::chrono::milliseconds(1), no));
    w.forget(5);  // never below zero
    EXPECT_EQ(w.unsaved(), 0u);
    EXPECT_EQ(UnsavedWindow(0).limit(), 1u);
}

TEST(MqttUnsavedWindow, CommitOnAnotherThreadWakesTheWaiter) {
    UnsavedWindow w(1);
    const std::atomic<bool> no{false};
    w.received();
    std::thread worker([&] { w.committed(1); });
    EXPECT_TRUE(w.wait_for_room(std::chrono::seconds(10), no));
    worker.join();
}

TEST(MqttUnsavedWindow, StopEndsTheWait) {
    UnsavedWindow w(1);
    std::atomic<bool> stop{false};
    w.received();
    std::thread stopper([&] {
        stop = true;
        w.wake();
    });
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(w.wait_for_room(std::chrono::seconds(10), stop));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    stopper.join();
}

// Two connections in a row closed soon after connecting: a takeover.
TEST(MqttTakeover, TwoShortSessionsInARow) {
    using namespace std::chrono_literals;
    TakeoverDetector d;
    EXPECT_FALSE(d.lost_after(1h));
    EXPECT_FALSE(d.lost_after(100ms));
    EXPECT_TRUE(d.lost_after(200ms));
    EXPECT_FALSE(d.reported());
    d.set_reported();
    EXPECT_TRUE(d.lost_after(50ms));
    EXPECT_TRUE(d.reported());
    EXPECT_FALSE(d.lost_after(10s));  // a long session ends the episode
    EXPECT_FALSE(d.reported());
    EXPECT_FALSE(d.lost_after(100ms));
}

}  // namespace sluice::mqtt
