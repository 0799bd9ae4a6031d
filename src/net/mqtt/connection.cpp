#include "net/mqtt/connection.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/tls_options.hpp"
#include "core/url.hpp"

namespace sluice::mqtt {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

template <class D>
D as(std::chrono::nanoseconds ns) {
    return std::chrono::duration_cast<D>(ns);
}

}  // namespace

std::optional<Server> normalise_server(std::string_view text, std::string* error) {
    Server s;
    std::string_view rest = text;
    const auto sep = text.find("://");
    std::string scheme = "tcp";
    if (sep != std::string_view::npos) {
        scheme = lower(text.substr(0, sep));
        rest = text.substr(sep + 3);
    }
    if (scheme == "tcp" || scheme == "mqtt") {
        s.tls = false;
    } else if (scheme == "ssl" || scheme == "mqtts" || scheme == "tls") {
#if defined(SLUICE_MQTT_TLS) && !SLUICE_MQTT_TLS
        if (error) {
            *error = fmt::format("'{}://' needs TLS, and this build has none (built with SLUICE_MQTT_TLS=OFF, "
                                 "the plain-TCP MQTT client only); use tcp:// or a build with MQTT TLS",
                                 scheme);
        }
        return std::nullopt;
#endif
        s.tls = true;
    } else {
        if (error) {
            *error = fmt::format("unsupported scheme '{}://' (use tcp:// or mqtt://, ssl:// or mqtts://)", scheme);
        }
        return std::nullopt;
    }
    if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
        if (slash + 1 != rest.size()) {
            if (error) {
                *error = "the server address takes no path; put topic filters in 'topics'";
            }
            return std::nullopt;
        }
        rest = rest.substr(0, slash);
    }
    std::string_view host = rest;
    std::string_view port_text;
    if (rest.starts_with('[')) {  // [IPv6]:port
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            if (error) {
                *error = "unterminated '[' in the server address";
            }
            return std::nullopt;
        }
        host = rest.substr(0, close + 1);
        if (close + 1 < rest.size() && rest[close + 1] == ':') {
            port_text = rest.substr(close + 2);
        }
    } else if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port_text = rest.substr(colon + 1);
    }
    if (host.empty()) {
        if (error) {
            *error = "the server address has no host";
        }
        return std::nullopt;
    }
    s.port = s.tls ? 8883 : 1883;
    if (!port_text.empty()) {
        int p = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9' || p > 65535) {
                p = -1;
                break;
            }
            p = p * 10 + (c - '0');
        }
        if (p <= 0 || p > 65535) {
            if (error) {
                *error = fmt::format("invalid port '{}'", port_text);
            }
            return std::nullopt;
        }
        s.port = p;
    }
    s.host = std::string(host);
    s.uri = fmt::format("{}://{}:{}", s.tls ? "ssl" : "tcp", s.host, s.port);
    return s;
}

Connection connection_from(const Options& o, std::string_view component) {
    Connection s;
    std::string err;
    auto server = normalise_server(o.str("server"), &err);
    if (!server) {
        throw ConfigError(fmt::format("option 'server': {}", err));
    }
    s.server = server->uri;
    s.host = server->host;
    s.port = server->port;
    s.tls = server->tls;
    s.client_id = o.str_or("client_id", "");
    s.clean_session = o.boolean("clean_session");
    s.protocol = o.str("protocol") == "5" ? 5 : 4;
    s.session_expiry = as<std::chrono::seconds>(o.duration("session_expiry"));
    s.user = o.str_or("user", "");
    s.password = o.str_or("password", "");
    s.keepalive = as<std::chrono::seconds>(o.duration("keepalive"));
    s.connect_timeout = as<std::chrono::seconds>(o.duration("connect_timeout"));
    if (o.has("reconnect_initial")) {
        s.reconnect_initial = as<std::chrono::milliseconds>(o.duration("reconnect_initial"));
        s.reconnect_max = as<std::chrono::milliseconds>(o.duration("reconnect_max"));
    }
    s.status_topic = o.str_or("status_topic", "");
    s.status_qos = static_cast<int>(o.integer("status_qos"));
    if (s.reconnect_max < s.reconnect_initial) {
        throw ConfigError("reconnect_max must not be shorter than reconnect_initial");
    }
    if (!s.password.empty() && s.user.empty()) {
        throw ConfigError("a password is set but no user");
    }
    if (!s.tls) {
        for (const char* name : {"ca_file", "ca_path", "cert_file", "key_file", "key_password", "server_name"}) {
            if (!o.str_or(name, "").empty()) {
                throw ConfigError(fmt::format("option '{}' is set but the server '{}' is not TLS; use ssl:// or "
                                              "mqtts://",
                                              name, s.server));
            }
        }
    }
    // The shared TLS options (core/tls_options.hpp) and their checks:
    // cert_file and key_file go together, insecure_skip_verify = true
    // ignores ca_file/ca_path.
    const TlsConfig tls = tls_config_from(o);
    if (!tls.server_name.empty()) {
        throw ConfigError(fmt::format("option 'server_name' is not supported by the {}: the broker's certificate "
                                      "is checked against the host in 'server'",
                                      component));
    }
    s.ca_file = tls.ca_file;
    s.ca_path = tls.ca_path;
    s.cert_file = tls.cert_file;
    s.key_file = tls.key_file;
    s.key_password = tls.key_password;
    s.verify_hostname = tls.verify_hostname;
    s.insecure_skip_verify = tls.insecure_skip_verify;
    if (s.status_topic.find_first_of("#+") != std::string::npos) {
        throw ConfigError("status_topic must not contain wildcards");
    }
    return s;
}

std::vector<OptionSpec> connection_option_specs(std::vector<OptionSpec> first, std::vector<OptionSpec> last,
                                                bool reconnect) {
    auto tls = tls_option_specs();
    for (auto& spec : tls) {
        if (spec.name == "ca_file") {
            spec.doc = "PEM file of CA certificates to verify the broker with (TLS; default: the system store)";
        } else if (spec.name == "server_name") {
            spec.doc = "Not supported by MQTT clients (the certificate is checked against the host in "
                       "`server`): setting it is an error";
        } else if (spec.name == "verify_hostname") {
            spec.doc = "Check that the broker's certificate names the host (or IP) in `server`";
        }
    }
    return concat_specs({
        {
            {.name = "server", .type = OptionType::String, .default_value = "tcp://127.0.0.1:1883",
             .doc = "Broker address: tcp://host:port or mqtt://… for plain TCP, ssl://host:port or mqtts://… "
                    "for TLS (default ports 1883 and 8883)",
             .min = 1, .max = 1024},
        },
        first,
        {
            {.name = "client_id", .type = OptionType::String,
             .doc = "MQTT client id; default sluice-<host name>-<machine id>-<data dir>-<pipeline>-<component id> "
                    "(12 hex digits of /etc/machine-id, 4 of a hash of the data directory), stable across "
                    "restarts so the broker keeps the session, and different for every machine and instance",
             .max = 256},
            {.name = "clean_session", .type = OptionType::Bool, .default_value = "false",
             .doc = "Start a fresh session on every connect (the broker forgets what it held for sluice)"},
            {.name = "session_expiry", .type = OptionType::Duration, .default_value = "7d",
             .doc = "MQTT 5: how long the broker keeps the session after a disconnect (3.1.1: the broker "
                    "decides)",
             .min = 0, .max = 4294967295.0},
            {.name = "protocol", .type = OptionType::Enum, .default_value = "3.1.1",
             .doc = "MQTT protocol version", .choices = "3.1.1|5"},
            {.name = "user", .type = OptionType::String, .doc = "User name for the broker", .max = 65535},
            {.name = "password", .type = OptionType::Secret,
             .doc = "Password for the broker (\"@/path\" or \"@credential:NAME\" to read it from a file)",
             .max = 65535},
        },
        tls,
        {
            {.name = "keepalive", .type = OptionType::Duration, .default_value = "30s",
             .doc = "MQTT keep-alive interval; a dead connection is noticed after about 1.5 times this",
             .min = 1, .max = 65535},
            {.name = "connect_timeout", .type = OptionType::Duration, .default_value = "10s",
             .doc = "Longest wait for a connect (TCP, TLS and CONNACK) and for the broker's answer to a "
                    "subscribe",
             .min = 1, .max = 300},
        },
        reconnect ? std::vector<OptionSpec>{
            {.name = "reconnect_initial", .type = OptionType::Duration, .default_value = "500ms",
             .doc = "First wait after a failed connect; doubles per failure, with jitter", .min = 0.01,
             .max = 3600},
            {.name = "reconnect_max", .type = OptionType::Duration, .default_value = "30s",
             .doc = "Longest wait between connect attempts", .min = 0.01, .max = 86400},
        } : std::vector<OptionSpec>{},
        {
            {.name = "status_topic", .type = OptionType::String,
             .doc = "If set: retained \"online\" is published here after connecting, \"offline\" on stop and "
                    "as the last will",
             .max = 65535},
            {.name = "status_qos", .type = OptionType::Int, .default_value = "1",
             .doc = "QoS of the status messages", .min = 0, .max = 2},
        },
        last,
    });
}

void connection_from_url(const Url& url, RawTable& out) {
    if (url.host.empty()) {
        throw ConfigError("an mqtt URL needs a broker host: mqtt://host[:port]/topic");
    }
    const bool tls = url.scheme == "mqtts";
    std::string host = url.host;
    if (host.find(':') != std::string::npos && !host.starts_with('[')) {
        host = "[" + host + "]";  // IPv6 literal
    }
    out.push_back(text_entry("server", fmt::format("{}://{}:{}", tls ? "ssl" : "tcp", host,
                                                   url.port != 0 ? url.port : (tls ? 8883 : 1883))));
    if (!url.user.empty()) {
        out.push_back(text_entry("user", url.user));
    }
    if (!url.password.empty()) {
        out.push_back(text_entry("password", url.password));
    }
}

std::string default_client_id(std::string_view hostname, std::string_view machine, std::string_view data_dir,
                              std::string_view component_name) {
    std::string id = "sluice-";
    if (hostname.empty()) {
        id += "gw";
    } else {
        id.append(hostname.data(), std::min<std::size_t>(hostname.size(), 24));
    }
    for (std::string_view tag : {machine, data_dir}) {
        if (!tag.empty()) {
            id += '-';
            id += tag;
        }
    }
    id += '-';
    id += component_name;
    for (char& c : id) {
        const auto u = static_cast<unsigned char>(c);
        if (!std::isalnum(u) && c != '-' && c != '_' && c != '.') {
            c = '-';
        }
    }
    return id;
}

std::string explain_tls_failure(std::string_view endpoint, std::string_view openssl_text,
                                std::string_view probe_verdict) {
    std::string why;
    std::string hint;
    const std::string text = lower(openssl_text);
    const std::string probe = lower(probe_verdict);
    if (probe.find("does not match") != std::string::npos) {
        why = std::string(probe_verdict);
        hint = "connect by a name the certificate lists, or fix the server certificate's subjectAltName";
    } else if (text.find("certificate verify failed") != std::string::npos ||
               probe.find("certificate verify failed") != std::string::npos) {
        why = probe_verdict.empty() ? "certificate verify failed" : std::string(probe_verdict);
        hint = "check ca_file / ca_path";
    } else if (text.find("no such file") != std::string::npos || text.find("system lib") != std::string::npos ||
               text.find("pem") != std::string::npos) {
        why = std::string(openssl_text);
        hint = "check that ca_file, cert_file and key_file exist and are PEM";
    } else if (text.find("key values mismatch") != std::string::npos) {
        why = "client certificate and key do not belong together";
        hint = "check cert_file and key_file";
    } else if (text.find("alert") != std::string::npos || probe.find("alert") != std::string::npos) {
        why = !openssl_text.empty() ? std::string(openssl_text) : std::string(probe_verdict);
        hint = "the broker refused us: check cert_file/key_file if it requires a client certificate";
    } else if (!probe_verdict.empty()) {
        why = std::string(probe_verdict);
    } else if (!openssl_text.empty()) {
        why = std::string(openssl_text);
    } else {
        why = "handshake refused";
    }
    std::string line = fmt::format("TLS handshake with {} failed: {}", endpoint, why);
    if (!hint.empty()) {
        line += fmt::format(" ({})", hint);
    }
    return line;
}

}  // namespace sluice::mqtt
