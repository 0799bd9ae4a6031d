#pragma once
// The gateway's identity: `[gateway] id`, or the host name when unset. Sinks
// put it in what they send (Kafka's `gateway` header, the pushgateway's
// `instance` label).

#include <string>
#include <string_view>

namespace sluice {

// Set by the gateway before it builds the pipelines.
void set_gateway_id(std::string id);
// The configured id; the host name (or "sluice") before set_gateway_id.
std::string gateway_id();
// This machine's host name, "sluice" if it has none.
std::string host_name();

// A short tag unique to this machine, for names that must differ between
// gateways (MQTT client ids): the first 12 hex digits of /etc/machine-id
// (else /var/lib/dbus/machine-id), else a hash of the host name. Boards
// cloned from one SD image share a host name but, once booted, get their own
// machine id (systemd creates it when the file is empty).
std::string machine_tag();
// Set by the gateway: its data directory (two instances on one machine run
// with different data directories; the buffer lock refuses a shared one).
void set_data_dir(std::string path);
// 4 hex digits hashing the absolute data directory path; "" before set_data_dir.
std::string data_dir_tag();
// A hash of `text` as `digits` hex digits (stable across builds and machines).
std::string short_hash(std::string_view text, int digits);

}  // namespace sluice
