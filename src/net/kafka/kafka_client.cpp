// The connection options of the kafka source and sink in librdkafka's terms.

#include "net/kafka/kafka_client.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/tls_options.hpp"

namespace sluice::kafka {
namespace {

std::string upper(std::string s) {
    for (auto& c : s) {
        if (c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return s;
}

// The shared TLS group (core/tls_options.hpp) in librdkafka's words; the old
// librdkafka-style names stay accepted as deprecated aliases.
std::vector<OptionSpec> tls_specs() {
    auto tls = tls_option_specs();
    for (auto& spec : tls) {
        if (spec.name == "ca_file") {
            spec.deprecated_alias = "ssl_ca_location";
            spec.doc = "PEM file of CA certificates to verify the brokers with (ssl.ca.location; default: the "
                       "system's CA store)";
        } else if (spec.name == "ca_path") {
            spec.doc = "Directory of CA certificates to verify the brokers with (ssl.ca.location; not together "
                       "with ca_file)";
        } else if (spec.name == "cert_file") {
            spec.deprecated_alias = "ssl_certificate_location";
        } else if (spec.name == "key_file") {
            spec.deprecated_alias = "ssl_key_location";
        } else if (spec.name == "key_password") {
            spec.deprecated_alias = "ssl_key_password";
        } else if (spec.name == "server_name") {
            spec.doc = "Not supported by librdkafka (it checks the host name each broker advertises): setting it "
                       "is an error";
        } else if (spec.name == "verify_hostname") {
            spec.doc = "Check that each broker's certificate names its host (ssl.endpoint.identification.algorithm "
                       "https; false: none)";
        } else if (spec.name == "insecure_skip_verify") {
            spec.doc = "Accept any broker certificate (enable.ssl.certificate.verification = false, no host name "
                       "check): for tests only; logged at start-up";
        }
    }
    return tls;
}

void add_tls(const Options& o, std::vector<Property>& props, bool ssl) {
    auto add = [&](std::string key, std::string value, bool secret = false) {
        props.push_back({std::move(key), std::move(value), secret});
    };
    // ssl_endpoint_identification is the deprecated spelling of
    // verify_hostname; it takes https|none, so it is handled here rather
    // than as a plain alias.
    const bool old_identification = o.is_explicit("ssl_endpoint_identification");
    if (old_identification && o.is_explicit("verify_hostname")) {
        throw ConfigError(fmt::format("kafka: verify_hostname ({}) and its deprecated form "
                                      "ssl_endpoint_identification ({}) are both set; keep only verify_hostname",
                                      o.pos("verify_hostname").str(), o.pos("ssl_endpoint_identification").str()));
    }
    if (!ssl) {
        for (std::string_view name : kTlsOptionNames) {
            if (o.is_explicit(name)) {
                throw ConfigError(fmt::format("kafka: {} needs security_protocol = \"ssl\" or \"sasl_ssl\"", name));
            }
        }
        if (old_identification) {
            throw ConfigError("kafka: ssl_endpoint_identification needs security_protocol = \"ssl\" or \"sasl_ssl\"");
        }
        return;
    }
    const TlsConfig tls = tls_config_from(o);
    if (!tls.server_name.empty()) {
        throw ConfigError("kafka: server_name is not supported: librdkafka checks each broker's certificate "
                          "against the host name the broker advertises and has no setting for another name");
    }
    if (!tls.ca_file.empty() && !tls.ca_path.empty()) {
        throw ConfigError("kafka: ca_file and ca_path both set librdkafka's ssl.ca.location; set one");
    }
    if (!tls.ca_file.empty()) {
        add("ssl.ca.location", tls.ca_file);
    } else if (!tls.ca_path.empty()) {
        add("ssl.ca.location", tls.ca_path);  // a file or a directory of CA certificates
    }
    if (!tls.cert_file.empty()) {
        add("ssl.certificate.location", tls.cert_file);
    }
    if (!tls.key_file.empty()) {
        add("ssl.key.location", tls.key_file);
    }
    if (!tls.key_password.empty()) {
        add("ssl.key.password", tls.key_password, true);
    }
    bool verify_hostname = tls.verify_hostname;
    if (old_identification) {
        log::warn("{}: option 'ssl_endpoint_identification' is deprecated, use 'verify_hostname' (https: true, "
                  "none: false)",
                  o.pos("ssl_endpoint_identification").str());
        verify_hostname = o.str("ssl_endpoint_identification") == "https";
    }
    if (tls.insecure_skip_verify) {
        log::warn("kafka: insecure_skip_verify is on: the brokers' certificates are NOT checked");
        add("enable.ssl.certificate.verification", "false");
        verify_hostname = false;
    }
    add("ssl.endpoint.identification.algorithm", verify_hostname ? "https" : "none");
}

}  // namespace

std::string ms(std::chrono::nanoseconds d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

std::vector<OptionSpec> broker_option_specs() {
    return {{.name = "brokers", .type = OptionType::List, .doc = "Bootstrap brokers, host:port", .required = true,
             .min = 1, .max = 64}};
}

std::vector<OptionSpec> connection_option_specs(std::string_view client_id_default) {
    std::vector<OptionSpec> specs{
        {.name = "client_id", .type = OptionType::String, .default_value = client_id_default,
         .doc = "Kafka client.id", .min = 1, .max = 256},
        {.name = "security_protocol", .type = OptionType::Enum, .default_value = "plaintext",
         .doc = "Transport: plaintext, ssl, sasl_plaintext, sasl_ssl",
         .choices = "plaintext|ssl|sasl_plaintext|sasl_ssl"},
    };
    for (auto& spec : tls_specs()) {
        specs.push_back(std::move(spec));
    }
    std::vector<OptionSpec> rest{
        {.name = "ssl_endpoint_identification", .type = OptionType::Enum,
         .doc = "Deprecated: use verify_hostname (https: true, none: false)", .choices = "https|none"},
        {.name = "sasl_mechanism", .type = OptionType::Enum, .default_value = "plain", .doc = "SASL mechanism",
         .choices = "plain|scram-sha-256|scram-sha-512"},
        {.name = "sasl_username", .type = OptionType::String, .doc = "SASL user name", .min = 0},
        {.name = "sasl_password", .type = OptionType::Secret, .doc = "SASL password", .min = 0},
        {.name = "rdkafka_properties", .type = OptionType::List,
         .doc = "Extra librdkafka properties as \"key=value\", e.g. [\"batch.num.messages=10000\"]; checked at "
                "start-up",
         .min = 0, .max = 256},
    };
    for (auto& spec : rest) {
        specs.push_back(std::move(spec));
    }
    return specs;
}

std::vector<Property> client_properties(const Options& o, std::vector<Property> own,
                                        std::initializer_list<std::string_view> reserved) {
    std::vector<Property> props;
    auto add = [&](std::string key, std::string value, bool secret = false) {
        props.push_back({std::move(key), std::move(value), secret});
    };
    std::string brokers;
    for (const auto& b : o.list("brokers")) {
        if (!brokers.empty()) {
            brokers += ',';
        }
        brokers += b;
    }
    add("bootstrap.servers", brokers);
    add("client.id", o.str("client_id"));
    const std::string& proto = o.str("security_protocol");
    add("security.protocol", proto);
    add_tls(o, props, proto == "ssl" || proto == "sasl_ssl");
    if (proto == "sasl_plaintext" || proto == "sasl_ssl") {
        add("sasl.mechanism", upper(o.str("sasl_mechanism")));
        if (!o.has("sasl_username") || o.str("sasl_username").empty()) {
            throw ConfigError("kafka: security_protocol with sasl needs sasl_username and sasl_password");
        }
        add("sasl.username", o.str("sasl_username"));
        add("sasl.password", o.has("sasl_password") ? o.str("sasl_password") : std::string(), true);
    } else {
        for (const char* name : {"sasl_username", "sasl_password"}) {
            if (o.is_explicit(name)) {
                throw ConfigError(
                    fmt::format("kafka: {} needs security_protocol = \"sasl_plaintext\" or \"sasl_ssl\"", name));
            }
        }
    }
    for (auto& p : own) {
        props.push_back(std::move(p));
    }
    for (const auto& kv : o.list_or_empty("rdkafka_properties")) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw ConfigError(fmt::format("kafka: rdkafka_properties entry \"{}\" is not key=value", kv));
        }
        std::string key = kv.substr(0, eq);
        if (key.find("password") != std::string::npos || key.find("secret") != std::string::npos) {
            throw ConfigError(fmt::format(
                "kafka: put {} in a secret option (key_password / sasl_password), not in rdkafka_properties",
                key));
        }
        // The transport and its checks have options of their own, which
        // log turning verification off; a stray property must not do it
        // silently.
        static constexpr std::string_view kConnection[] = {
            "bootstrap.servers", "security.protocol", "enable.ssl.certificate.verification",
            "ssl.endpoint.identification.algorithm"};
        if (std::find(std::begin(kConnection), std::end(kConnection), key) != std::end(kConnection) ||
            std::find(reserved.begin(), reserved.end(), key) != reserved.end()) {
            throw ConfigError(fmt::format("kafka: set {} through its own option, not rdkafka_properties", key));
        }
        add(std::move(key), kv.substr(eq + 1));
    }
    return props;
}

void url_options(const Url& url, RawTable& out, const char* path_option) {
    auto text = [&](std::string key, std::string v) {
        RawValue value;
        value.v = std::move(v);
        value.from_text = true;
        out.push_back({std::move(key), {}, std::move(value)});
    };
    text("brokers", fmt::format("{}:{}", url.host, url.port == 0 ? 9092 : url.port));
    std::string_view path = url.path;
    if (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    if (!path.empty()) {
        text(path_option, std::string(path));
    }
    for (const auto& [k, v] : url.query) {
        text(k, v);
    }
}

void forward_log(std::string_view component, log::OnceLog& once, int level, const char* facility,
                 const char* line) {
    if (level <= 4) {
        once.warn("{}: kafka [{}]: {}", component, facility, line);
    } else {
        log::debug("{}: kafka [{}]: {}", component, facility, line);
    }
}

ConfPtr make_conf(const std::vector<Property>& props) {
    ConfPtr conf(rd_kafka_conf_new());
    char errstr[512];
    for (const auto& p : props) {
        if (rd_kafka_conf_set(conf.get(), p.key.c_str(), p.value.c_str(), errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            if (p.secret) {
                throw ConfigError(fmt::format("kafka: librdkafka refused the value of {}", p.key));
            }
            throw ConfigError(fmt::format("kafka: {}", errstr));
        }
    }
    return conf;
}

}  // namespace sluice::kafka
