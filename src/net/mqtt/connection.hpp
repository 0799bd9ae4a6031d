#pragma once
// What every MQTT client of sluice shares, the mqtt source and the mqtt
// sink alike: the broker connection's settings and their options (one
// vocabulary: server, client_id, session, user/password, the TLS group,
// keep-alive, reconnect back-off, the status topic), checked once, and the
// pure helpers around them (server URI normalisation, client ids, TLS
// failure diagnosis). Paho's side is net/mqtt/paho.hpp.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "core/url.hpp"

namespace sluice::mqtt {

struct Connection {
    std::string server;  // Paho form: tcp://host:port or ssl://host:port
    std::string host;    // host part of `server` (for messages and the TLS probe)
    int port = 1883;
    bool tls = false;
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

    bool v5() const { return protocol == 5; }
};

// Reads and checks the connection options; throws ConfigError. `component`
// ("mqtt source", "mqtt sink") words the messages.
Connection connection_from(const Options& o, std::string_view component);

// The connection options around a component's own: server, then `first`
// (what the component is about: topics, QoS), then client id, session,
// credentials, the TLS group, timing and the status topic, then `last`.
// `reconnect`: with reconnect_initial/reconnect_max (a source's own
// reconnect loop); a sink's reconnects follow the runner's retry_initial and
// retry_max instead.
std::vector<OptionSpec> connection_option_specs(std::vector<OptionSpec> first, std::vector<OptionSpec> last,
                                                bool reconnect = true);

// "mqtt://h:1", "mqtts://h", "ssl://h:8883", "tcp://h", "h:1883", "h" → Paho's
// tcp:// / ssl:// form with an explicit port. Nullopt (and `error`) if unusable.
struct Server {
    std::string uri;
    std::string host;
    int port = 0;
    bool tls = false;
};
std::optional<Server> normalise_server(std::string_view text, std::string* error);

// The connection part of a `sluice relay` URL: mqtt[s]://[user[:password]@]host[:port]/...
// → server, user and password entries.
void connection_from_url(const Url& url, RawTable& out);

// "sluice-<host>-<machine>-<data dir>-<pipeline>-<component id>": the host
// name (cut to 24 characters) for people reading the broker's log, the
// machine tag (core/identity.hpp) so boards cloned from one image differ, the
// data directory's tag so two instances on one machine differ, and the
// component's "<pipeline>/<id>" name; limited to characters every broker
// accepts. Empty tags are left out.
std::string default_client_id(std::string_view hostname, std::string_view machine, std::string_view data_dir,
                              std::string_view component_name);

// One line saying why a TLS connection failed and what to check, from the
// OpenSSL error text Paho reported (may be empty) and our own probe's verdict
// (may be empty).
std::string explain_tls_failure(std::string_view endpoint, std::string_view openssl_text,
                                std::string_view probe_verdict);

}  // namespace sluice::mqtt
