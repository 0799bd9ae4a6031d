#pragma once
// The one TLS option vocabulary of every component that speaks TLS (the MQTT
// source, the HTTP sinks, the Kafka sink): declared once here, parsed once
// into TlsConfig, and mapped by each component onto its TLS library (OpenSSL
// through Paho, mbedTLS, librdkafka). docs/operations.md "TLS options"
// lists it.

#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"

namespace sluice {

// The system's CA bundle on Debian (ca-certificates), used when neither
// ca_file nor ca_path is set by a TLS library that has no default store of
// its own (mbedTLS, libpq).
inline constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

struct TlsConfig {
    std::string ca_file;       // PEM CA bundle; empty (and no ca_path): the system's
    std::string ca_path;       // directory of (hashed) PEM CA certificates
    std::string cert_file;     // client certificate (PEM), for mutual TLS
    std::string key_file;      // its private key (PEM)
    std::string key_password;  // pass phrase of key_file (a secret: never log it)
    std::string server_name;   // name to verify and send as SNI; empty: the host
    bool verify_hostname = true;        // the certificate must name the host
    bool insecure_skip_verify = false;  // no chain or name check at all

    // Any option that only matters with TLS set.
    bool any_file() const { return !ca_file.empty() || !ca_path.empty() || !cert_file.empty() || !key_file.empty(); }
};

// ca_file, ca_path, cert_file, key_file, key_password (Secret), server_name,
// verify_hostname (default true), insecure_skip_verify (default false).
std::vector<OptionSpec> tls_option_specs();

// The names of the group, in declaration order.
inline constexpr std::string_view kTlsOptionNames[] = {
    "ca_file", "ca_path", "cert_file", "key_file", "key_password", "server_name", "verify_hostname",
    "insecure_skip_verify",
};

// Reads the group from options resolved against tls_option_specs(). Throws
// ConfigError for combinations that cannot be meant: cert_file without
// key_file (or the reverse), key_password without key_file, and
// insecure_skip_verify = true together with ca_file / ca_path.
TlsConfig tls_config_from(const Options& o);

}  // namespace sluice
