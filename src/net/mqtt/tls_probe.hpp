#pragma once
// When Paho reports a failed TLS connect it rarely says why (a host name
// mismatch is only in its trace output). A failed connect is followed by one
// probe handshake of our own with the same CA and client certificate, which
// can name the cause: the verify error, or the names the certificate is for.

#include <chrono>
#include <string>

#include "core/tcp_probe.hpp"
#include "net/mqtt/connection.hpp"

namespace sluice::mqtt {

// Empty if the probe handshake and verification pass; otherwise one phrase
// such as "certificate verify failed: self-signed certificate in certificate
// chain" or "the server certificate does not match '127.0.0.1' (it is for
// DNS:other.example)". Blocks at most about `timeout`.
std::string probe_tls(const Connection& s, std::chrono::seconds timeout);

// Paho's connect return code does not say why a connect failed; a TCP probe
// (core/tcp_probe.hpp) does ("Connection refused").
using sluice::probe_tcp;

// `validate --healthcheck` for the mqtt source and sink: the broker accepts a
// TCP connection (and, with TLS, a handshake whose certificate verifies as
// configured). `detail` says what was checked, or why it failed.
bool probe_broker(const Connection& c, std::string& detail);

}  // namespace sluice::mqtt
