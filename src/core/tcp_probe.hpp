#pragma once
// A bounded TCP connect, for probes (`validate --healthcheck`, the MQTT
// source's explanation of a failed connect) rather than for data.

#include <chrono>
#include <string>

namespace sluice {

// Non-blocking connect bounded by `timeout`, then back to blocking with
// send/receive timeouts of `timeout` so what follows (a TLS handshake) is
// bounded too. Returns the fd, or -1 with the reason in `error`. `host` may
// be a bracketed IPv6 literal.
int connect_tcp(const std::string& host, int port, std::chrono::seconds timeout, std::string& error);

// Empty if a TCP connection to host:port opens within `timeout`, else why
// not ("Connection refused", "cannot resolve 'x': ...").
std::string probe_tcp(const std::string& host, int port, std::chrono::seconds timeout);

}  // namespace sluice
