#pragma once
// The mqtt source's settings, checked once at construction, and the pure
// helpers around them (server URI normalisation, relay URL mapping, back-off,
// TLS failure diagnosis). Kept apart from the Paho code so they can be unit
// tested without a broker.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "core/url.hpp"

namespace sluice::mqtt {

struct Settings {
    std::string server;  // Paho form: tcp://host:port or ssl://host:port
    std::string host;    // host part of `server` (for messages and the TLS probe)
    int port = 1883;
    bool tls = false;
    std::vector<std::string> topics;
    int qos = 1;
    std::string client_id;  // empty: derived at start (default_client_id)
    bool clean_session = false;
    int protocol = 4;  // MQTTVERSION_3_1_1 (4) or MQTTVERSION_5 (5)
    std::chrono::seconds session_expiry{0};
    std::string user;
    std::string password;
    std::string ca_file;
    std::string ca_path;
    std::string cert_file;
    std::string key_file;
    std::string key_password;
    bool verify_hostname = true;
    bool insecure_skip_verify = false;
    std::chrono::seconds keepalive{30};
    std::chrono::seconds connect_timeout{10};
    std::chrono::milliseconds reconnect_initial{500};
    std::chrono::milliseconds reconnect_max{30000};
    std::string status_topic;
    int status_qos = 1;
    std::size_t batch_size = 1024;
    std::chrono::milliseconds flush_interval{10};
    std::size_t max_unsaved_messages = 100;
    int connections = 1;       // > 1: that many sessions on a shared subscription
    std::string share_group;   // its group name; empty: derived from the client id
};

// Throws ConfigError for problems that involve several options.
Settings settings_from(const Options& o);

// "mqtt://h:1", "mqtts://h", "ssl://h:8883", "tcp://h", "h:1883", "h" → Paho's
// tcp:// / ssl:// form with an explicit port. Nullopt (and `error`) if unusable.
struct Server {
    std::string uri;
    std::string host;
    int port = 0;
    bool tls = false;
};
std::optional<Server> normalise_server(std::string_view text, std::string* error);

// `sluice relay` URL → option entries: mqtt[s]://[user[:password]@]host[:port]/topic?topics=a,b&qos=1
void from_url(const Url& url, RawTable& out);

// "sluice-<host>-<machine>-<data dir>-<pipeline>-<source id>": the host name
// (cut to 24 characters) for people reading the broker's log, the machine
// tag (core/identity.hpp) so boards cloned from one image differ, the data
// directory's tag so two instances on one machine differ, and the source's
// "<pipeline>/<id>" name; limited to characters every broker accepts. Empty
// tags are left out.
std::string default_client_id(std::string_view hostname, std::string_view machine, std::string_view data_dir,
                              std::string_view source_name);

// With connections > 1: the share group's name (`share_group`, else the
// client id with the characters a share name may not hold replaced by '_'),
// and the filter "$share/<group>/<filter>" each connection subscribes to.
std::string share_group_name(const Settings& s, std::string_view client_id);
std::string shared_filter(std::string_view group, std::string_view filter);

// One line saying why a TLS connection failed and what to check, from the
// OpenSSL error text Paho reported (may be empty) and our own probe's verdict
// (may be empty).
std::string explain_tls_failure(std::string_view endpoint, std::string_view openssl_text,
                                std::string_view probe_verdict);

}  // namespace sluice::mqtt
