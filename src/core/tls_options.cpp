#include "core/tls_options.hpp"

namespace sluice {

std::vector<OptionSpec> tls_option_specs() {
    return {
        {.name = "ca_file", .type = OptionType::String,
         .doc = "PEM file of CA certificates to verify the server with (TLS; default: the system's CA bundle)"},
        {.name = "ca_path", .type = OptionType::String,
         .doc = "Directory of hashed PEM CA certificates to verify the server with (TLS)"},
        {.name = "cert_file", .type = OptionType::String,
         .doc = "PEM client certificate (chain) for mutual TLS; needs key_file"},
        {.name = "key_file", .type = OptionType::String, .doc = "PEM private key of cert_file (mutual TLS)"},
        {.name = "key_password", .type = OptionType::Secret, .doc = "Pass phrase of key_file, if it is encrypted"},
        {.name = "server_name", .type = OptionType::String,
         .doc = "Name to verify in the server certificate and send as SNI (default: the host)"},
        {.name = "verify_hostname", .type = OptionType::Bool, .default_value = "true",
         .doc = "Check that the server certificate names the host (or server_name)"},
        {.name = "insecure_skip_verify", .type = OptionType::Bool, .default_value = "false",
         .doc = "Accept any server certificate (no chain or name check): for tests only; logged at start-up"},
    };
}

TlsConfig tls_config_from(const Options& o) {
    TlsConfig t;
    t.ca_file = o.str_or("ca_file", "");
    t.ca_path = o.str_or("ca_path", "");
    t.cert_file = o.str_or("cert_file", "");
    t.key_file = o.str_or("key_file", "");
    t.key_password = o.str_or("key_password", "");
    t.server_name = o.str_or("server_name", "");
    t.verify_hostname = o.has("verify_hostname") ? o.boolean("verify_hostname") : true;
    t.insecure_skip_verify = o.has("insecure_skip_verify") && o.boolean("insecure_skip_verify");
    if (t.cert_file.empty() != t.key_file.empty()) {
        throw ConfigError("cert_file and key_file go together (a client certificate needs its key)");
    }
    if (!t.key_password.empty() && t.key_file.empty()) {
        throw ConfigError("key_password is set but no key_file");
    }
    if (t.insecure_skip_verify && (!t.ca_file.empty() || !t.ca_path.empty())) {
        throw ConfigError("insecure_skip_verify = true ignores ca_file/ca_path; set one or the other");
    }
    return t;
}

}  // namespace sluice
