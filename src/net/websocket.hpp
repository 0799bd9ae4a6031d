#pragma once
// The server's side of WebSocket (RFC 6455), with no I/O: the opening
// handshake checked and answered, frames to the client written, and frames
// from the client read incrementally with hard limits. The HTTP server
// (http_server_stream.cpp) uses it for streamed responses that asked for a
// WebSocket (HttpResponse::websocket): records go out as text frames, a
// ping from the client is answered, a close is echoed.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_parser.hpp"

namespace sluice::net {

enum class WsOpcode : std::uint8_t {
    Continuation = 0x0,
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
};

// Close codes (RFC 6455 7.4.1) the server sends.
inline constexpr std::uint16_t kWsNormalClose = 1000;
inline constexpr std::uint16_t kWsGoingAway = 1001;
inline constexpr std::uint16_t kWsProtocolError = 1002;
inline constexpr std::uint16_t kWsTooBig = 1009;

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
std::string websocket_accept(std::string_view key);

// Whether `req` is a WebSocket opening handshake the server can accept: GET,
// HTTP/1.1, "Upgrade: websocket", "Connection: upgrade" (as one of its
// tokens), Sec-WebSocket-Version 13 and a Sec-WebSocket-Key of 16 bytes in
// base64. Nullopt on success, else the status to answer (400, or 426 for
// another version: the answer names 13) with the reason in `why`.
std::optional<int> websocket_refusal(const HttpRequest& req, std::string* why);

// The 101 answer to an accepted handshake.
void append_websocket_handshake(std::string& out, std::string_view key);

// One unmasked, final frame from the server.
void append_ws_frame(std::string& out, WsOpcode op, std::string_view payload);
// A close frame with `code` and a short reason (cut to fit 125 bytes).
void append_ws_close(std::string& out, std::uint16_t code, std::string_view reason = {});
// The code to answer a client's close with (its payload, not empty): its
// own code when that is one an endpoint may send (1000-1003, 1007-1011,
// 3000-4999), else 1002.
std::uint16_t ws_close_reply(std::string_view payload);

struct WsFrame {
    WsOpcode opcode = WsOpcode::Text;
    bool fin = true;
    std::string payload;  // unmasked
};

// Reads the client's frames from a byte stream fed in any pieces. Client
// frames must be masked; control frames at most 125 bytes and final; data
// payloads at most `max_payload`. A violation ends reading: error() names
// it and close_code() is what to send back.
class WsFrameReader {
public:
    explicit WsFrameReader(std::size_t max_payload = 64 * 1024) : max_payload_(max_payload) {}

    // Appends the complete frames in `data` to `frames`. False once the
    // stream broke a rule (then and after: nothing more is read).
    bool feed(std::string_view data, std::vector<WsFrame>& frames);
    bool failed() const { return !error_.empty(); }
    const std::string& error() const { return error_; }
    std::uint16_t close_code() const { return close_code_; }

private:
    bool fail(std::uint16_t code, std::string why);

    std::size_t max_payload_;
    std::string buf_;  // the frame being read: its head, then its payload
    std::string error_;
    std::uint16_t close_code_ = 0;
};

}  // namespace sluice::net
