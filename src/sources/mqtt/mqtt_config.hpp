#pragma once
// The mqtt source's settings, checked once at construction, and the pure
// helpers around them (relay URL mapping, shared subscriptions). The
// connection's part is net/mqtt/connection.hpp. Kept apart from the Paho
// code so they can be unit tested without a broker.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "core/url.hpp"
#include "net/mqtt/connection.hpp"

namespace sluice::mqtt {

// The connection's settings (shared with the mqtt sink) and the source's own.
struct Settings : Connection {
    std::vector<std::string> topics;
    int qos = 1;
    std::size_t batch_size = 1024;
    std::chrono::milliseconds flush_interval{10};
    std::size_t max_unsaved_messages = 100;
    int connections = 1;       // > 1: that many sessions on a shared subscription
    std::string share_group;   // its group name; empty: derived from the client id
};

// Throws ConfigError for problems that involve several options.
Settings settings_from(const Options& o);

// `sluice relay` URL → option entries: mqtt[s]://[user[:password]@]host[:port]/topic?topics=a,b&qos=1
void from_url(const Url& url, RawTable& out);

// With connections > 1: the share group's name (`share_group`, else the
// client id with the characters a share name may not hold replaced by '_'),
// and the filter "$share/<group>/<filter>" each connection subscribes to.
std::string share_group_name(const Settings& s, std::string_view client_id);
std::string shared_filter(std::string_view group, std::string_view filter);

}  // namespace sluice::mqtt
