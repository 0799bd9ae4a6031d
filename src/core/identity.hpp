#pragma once
// The gateway's identity: `[gateway] id`, or the host name when unset. Sinks
// put it in what they send (Kafka's `gateway` header, the pushgateway's
// `instance` label).

#include <string>

namespace sluice {

// Set by the gateway before it builds the pipelines.
void set_gateway_id(std::string id);
// The configured id; the host name (or "sluice") before set_gateway_id.
std::string gateway_id();
// This machine's host name, "sluice" if it has none.
std::string host_name();

}  // namespace sluice
