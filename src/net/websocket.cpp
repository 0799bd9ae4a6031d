#include "net/websocket.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <mbedtls/sha1.h>

#include "net/http_client.hpp"
#include "text/text.hpp"

namespace sluice::net {

namespace {

constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Whether a comma-separated header value lists `token` (case-insensitive).
bool lists_token(const std::string* value, std::string_view token) {
    if (value == nullptr) {
        return false;
    }
    std::string_view rest = *value;
    while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        if (iequals(trim(rest.substr(0, comma)), token)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    return false;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::string websocket_accept(std::string_view key) {
    std::string text(key);
    text.append(kGuid);
    unsigned char digest[20];
    mbedtls_sha1_ret(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

std::optional<int> websocket_refusal(const HttpRequest& req, std::string* why) {
    if (req.method != "GET") {
        *why = "a WebSocket is opened with GET";
        return 405;
    }
    if (req.version_minor < 1) {
        *why = "a WebSocket needs HTTP/1.1";
        return 400;
    }
    if (!lists_token(req.header("Upgrade"), "websocket") || !lists_token(req.header("Connection"), "upgrade")) {
        *why = "this is a WebSocket endpoint: send \"Upgrade: websocket\" and \"Connection: Upgrade\"";
        return 426;
    }
    const std::string* version = req.header("Sec-WebSocket-Version");
    if (version == nullptr || trim(*version) != "13") {
        *why = "only WebSocket version 13 is spoken";
        return 426;
    }
    const std::string* key = req.header("Sec-WebSocket-Key");
    // 16 bytes in base64: 22 characters and "==".
    const std::string_view k = key != nullptr ? trim(*key) : std::string_view();
    if (k.size() != 24 || k.substr(22) != "==" ||
        !std::all_of(k.begin(), k.begin() + 22, [](char c) { return is_base64_char(c); })) {
        *why = "Sec-WebSocket-Key must be 16 bytes in base64";
        return 400;
    }
    return std::nullopt;
}

void append_websocket_handshake(std::string& out, std::string_view key) {
    out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    out += websocket_accept(trim(key));
    out += "\r\n\r\n";
}

void append_ws_frame(std::string& out, WsOpcode op, std::string_view payload) {
    out.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(op)));
    const std::uint64_t n = payload.size();
    if (n <= 125) {
        out.push_back(static_cast<char>(n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((n >> shift) & 0xFF));
        }
    }
    out.append(payload);
}

void append_ws_close(std::string& out, std::uint16_t code, std::string_view reason) {
    std::string payload;
    payload.push_back(static_cast<char>(code >> 8));
    payload.push_back(static_cast<char>(code & 0xFF));
    reason = reason.substr(0, 123);
    // Never cut inside a UTF-8 character: the client would fail the close.
    while (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0xC0) == 0x80) {
        reason.remove_suffix(1);
    }
    if (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0x80) != 0) {
        reason.remove_suffix(1);  // a lead byte whose continuation was cut
    }
    payload.append(reason);
    append_ws_frame(out, WsOpcode::Close, payload);
}

std::uint16_t ws_close_reply(std::string_view payload) {
    if (payload.size() < 2) {
        return kWsProtocolError;
    }
    const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                 static_cast<std::uint8_t>(payload[1]));
    const bool ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
    return ok ? code : kWsProtocolError;
}

bool WsFrameReader::fail(std::uint16_t code, std::string why) {
    close_code_ = code;
    error_ = std::move(why);
    buf_.clear();
    return false;
}

bool WsFrameReader::feed(std::string_view data, std::vector<WsFrame>& frames) {
    if (failed()) {
        return false;
    }
    for (;;) {
        // The head: 2 bytes, the extended length (0, 2 or 8), the mask (4).
        // Bytes are taken only as far as the current frame needs, so a
        // frame's payload never sits in buf_ beside the next frame's head.
        if (buf_.size() < 2) {
            const std::size_t take = std::min<std::size_t>(2 - buf_.size(), data.size());
            buf_.append(data.substr(0, take));
            data.remove_prefix(take);
            if (buf_.size() < 2) {
                return true;
            }
        }
        const auto b0 = static_cast<std::uint8_t>(buf_[0]);
        const auto b1 = static_cast<std::uint8_t>(buf_[1]);
        if ((b0 & 0x70) != 0) {
            return fail(kWsProtocolError, "a frame with reserved bits set (no extension was agreed)");
        }
        const auto op = static_cast<WsOpcode>(b0 & 0x0F);
        const bool fin = (b0 & 0x80) != 0;
        const bool control = (b0 & 0x08) != 0;
        switch (op) {
            case WsOpcode::Continuation:
            case WsOpcode::Text:
            case WsOpcode::Binary:
            case WsOpcode::Close:
            case WsOpcode::Ping:
            case WsOpcode::Pong:
                break;
            default:
                return fail(kWsProtocolError, fmt::format("unknown opcode {:#x}", b0 & 0x0F));
        }
        if ((b1 & 0x80) == 0) {
            return fail(kWsProtocolError, "a client frame that is not masked");
        }
        const std::uint8_t len7 = b1 & 0x7F;
        if (control && (len7 > 125 || !fin)) {
            return fail(kWsProtocolError, "a control frame that is fragmented or longer than 125 bytes");
        }
        const std::size_t ext = len7 == 126 ? 2 : (len7 == 127 ? 8 : 0);
        const std::size_t head = 2 + ext + 4;
        if (buf_.size() < head) {
            const std::size_t take = std::min(head - buf_.size(), data.size());
            buf_.append(data.substr(0, take));
            data.remove_prefix(take);
            if (buf_.size() < head) {
                return true;
            }
        }
        std::uint64_t len = len7;
        if (ext > 0) {
            len = 0;
            for (std::size_t i = 0; i < ext; ++i) {
                len = (len << 8) | static_cast<std::uint8_t>(buf_[2 + i]);
            }
            if (ext == 8 && (len >> 63) != 0) {
                return fail(kWsProtocolError, "a frame length with its top bit set");
            }
        }
        if (len > max_payload_) {
            return fail(kWsTooBig, fmt::format("a frame of {} bytes; at most {} are taken", len, max_payload_));
        }
        const std::size_t total = head + static_cast<std::size_t>(len);
        const std::size_t take = std::min(total - buf_.size(), data.size());
        buf_.append(data.substr(0, take));
        data.remove_prefix(take);
        if (buf_.size() < total) {
            return true;
        }
        WsFrame f;
        f.opcode = op;
        f.fin = fin;
        f.payload.assign(buf_, head, std::string::npos);
        const char* mask = buf_.data() + 2 + ext;
        for (std::size_t i = 0; i < f.payload.size(); ++i) {
            f.payload[i] = static_cast<char>(f.payload[i] ^ mask[i % 4]);
        }
        frames.push_back(std::move(f));
        buf_.clear();
        if (data.empty()) {
            return true;
        }
    }
}

}  // namespace sluice::net
