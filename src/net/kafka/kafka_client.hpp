#pragma once
// What the kafka source and sink share: the connection's options (brokers,
// client id, transport with the shared TLS group, SASL, extra librdkafka
// properties) and their mapping to librdkafka properties. One switch,
// SLUICE_WITH_KAFKA, for both.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/url.hpp"

namespace sluice::kafka {

struct Property {
    std::string key;
    std::string value;
    bool secret = false;  // never logged, never echoed in an error
};

// The connection's option specs: `brokers` first, the rest appended after a
// component's own options (security_protocol, the TLS group, SASL,
// rdkafka_properties).
std::vector<OptionSpec> broker_option_specs();
// `client_id_default` must outlive the specs (a string literal).
std::vector<OptionSpec> connection_option_specs(std::string_view client_id_default);

// Every librdkafka property the options stand for: the connection's, then
// the component's `own`, then `rdkafka_properties` (which therefore win).
// An rdkafka_properties entry may not set bootstrap.servers, the transport
// (security.protocol, certificate and host name checks) nor any key in
// `reserved` (those have options of their own), nor a password or secret.
// Throws ConfigError for a malformed entry or an inconsistent choice.
std::vector<Property> client_properties(const Options& o, std::vector<Property> own,
                                        std::initializer_list<std::string_view> reserved);

struct ConfDeleter {
    void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Applies every property to a fresh conf; throws ConfigError with
// librdkafka's own reason (secrets are named, never echoed).
ConfPtr make_conf(const std::vector<Property>& props);

std::string ms(std::chrono::nanoseconds d);  // librdkafka's *.ms properties

// A URL's options for `sluice relay`: `brokers` from host:port (port 9092
// when left out), the path (without its leading /) as `path_option`, every
// query parameter as an option.
void url_options(const Url& url, RawTable& out, const char* path_option);

// librdkafka's log line (log.queue: on the thread that polls) as sluice's:
// warnings and worse once per kind through `once`, the rest at debug.
void forward_log(std::string_view component, log::OnceLog& once, int level, const char* facility,
                 const char* line);

}  // namespace sluice::kafka
