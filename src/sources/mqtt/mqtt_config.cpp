#include "sources/mqtt/mqtt_config.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/tls_options.hpp"

namespace sluice::mqtt {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

// Splits on ',' and drops empty pieces (a trailing comma is harmless).
std::vector<std::string> split_commas(std::string_view s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto comma = s.find(',', start);
        if (comma == std::string_view::npos) {
            comma = s.size();
        }
        if (comma > start) {
            out.emplace_back(s.substr(start, comma - start));
        }
        start = comma + 1;
    }
    return out;
}

// Topic filters the broker would refuse; caught here so the mistake shows at
// validate time with the option's position rather than as a runtime error.
std::optional<std::string> check_topic_filter(std::string_view t) {
    if (t.empty()) {
        return "an empty topic filter";
    }
    for (std::size_t i = 0; i < t.size(); ++i) {
        const bool level_start = i == 0 || t[i - 1] == '/';
        const bool level_end = i + 1 == t.size() || t[i + 1] == '/';
        if (t[i] == '#' && (!level_start || i + 1 != t.size())) {
            return fmt::format("topic filter '{}': '#' must be a whole level at the end", t);
        }
        if (t[i] == '+' && (!level_start || !level_end)) {
            return fmt::format("topic filter '{}': '+' must be a whole level", t);
        }
        if (t[i] == '\0') {
            return fmt::format("topic filter '{}' contains a NUL character", t);
        }
    }
    return std::nullopt;
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

Settings settings_from(const Options& o) {
    Settings s;
    std::string err;
    auto server = normalise_server(o.str("server"), &err);
    if (!server) {
        throw ConfigError(fmt::format("option 'server': {}", err));
    }
    s.server = server->uri;
    s.host = server->host;
    s.port = server->port;
    s.tls = server->tls;
    s.topics = o.list("topics");
    for (const auto& t : s.topics) {
        if (auto bad = check_topic_filter(t)) {
            throw ConfigError(fmt::format("option 'topics': {}", *bad));
        }
    }
    s.qos = static_cast<int>(o.integer("qos"));
    s.client_id = o.str_or("client_id", "");
    s.clean_session = o.boolean("clean_session");
    s.protocol = o.str("protocol") == "5" ? 5 : 4;
    s.session_expiry = as<std::chrono::seconds>(o.duration("session_expiry"));
    s.user = o.str_or("user", "");
    s.password = o.str_or("password", "");
    s.keepalive = as<std::chrono::seconds>(o.duration("keepalive"));
    s.connect_timeout = as<std::chrono::seconds>(o.duration("connect_timeout"));
    s.reconnect_initial = as<std::chrono::milliseconds>(o.duration("reconnect_initial"));
    s.reconnect_max = as<std::chrono::milliseconds>(o.duration("reconnect_max"));
    s.status_topic = o.str_or("status_topic", "");
    s.status_qos = static_cast<int>(o.integer("status_qos"));
    s.batch_size = static_cast<std::size_t>(o.integer("batch_size"));
    s.flush_interval = as<std::chrono::milliseconds>(o.duration("flush_interval"));
    s.max_unsaved_messages = static_cast<std::size_t>(o.integer("max_unsaved_messages"));
    s.connections = static_cast<int>(o.integer("connections"));
    s.share_group = o.str_or("share_group", "");
    if (s.share_group.find_first_of("/+#") != std::string::npos) {
        throw ConfigError("option 'share_group': a share name must not contain '/', '+' or '#'");
    }
    if (!s.share_group.empty() && s.connections < 2) {
        throw ConfigError("option 'share_group' is set but connections is 1; set connections to 2 or more to "
                          "subscribe through a shared subscription");
    }
    if (s.connections > 1) {
        for (const auto& t : s.topics) {
            if (t.starts_with("$share/")) {
                throw ConfigError(fmt::format("option 'topics': '{}' already names a shared subscription; with "
                                              "connections = {} sluice makes the shared subscriptions itself "
                                              "(remove the $share/<group>/ prefix)",
                                              t, s.connections));
            }
        }
        if (static_cast<std::size_t>(s.connections) > s.max_unsaved_messages) {
            throw ConfigError(fmt::format("max_unsaved_messages ({}) must be at least connections ({}): the "
                                          "connections share that window",
                                          s.max_unsaved_messages, s.connections));
        }
    }

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
        throw ConfigError("option 'server_name' is not supported by the mqtt source: the broker's certificate is "
                          "checked against the host in 'server'");
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

std::string share_group_name(const Settings& s, std::string_view client_id) {
    if (!s.share_group.empty()) {
        return s.share_group;
    }
    std::string g(client_id);
    for (char& c : g) {
        if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) {
            c = '_';
        }
    }
    return g.empty() ? "sluice" : g;
}

std::string shared_filter(std::string_view group, std::string_view filter) {
    return fmt::format("$share/{}/{}", group, filter);
}

void from_url(const Url& url, RawTable& out) {
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
    // The path (after its first '/') is one topic filter; `topics=` adds more.
    // Built as an array so a topic is never split on something inside it.
    RawArray topics;
    if (url.path.size() > 1) {
        RawValue v;
        v.v = url.path.substr(1);
        topics.push_back(std::move(v));
    }
    for (const auto& [key, value] : url.query) {
        if (key == "topics" || key == "topic") {
            for (auto& t : split_commas(value)) {
                RawValue v;
                v.v = std::move(t);
                topics.push_back(std::move(v));
            }
        } else {
            out.push_back(text_entry(key, value));
        }
    }
    if (!topics.empty()) {
        RawEntry e;
        e.key = "topics";
        e.value.v = std::move(topics);
        out.push_back(std::move(e));
    }
}

std::string default_client_id(std::string_view hostname, std::string_view machine, std::string_view data_dir,
                              std::string_view source_name) {
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
    id += source_name;
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
