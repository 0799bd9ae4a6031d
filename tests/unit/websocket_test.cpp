// WebSocket's server side without I/O (src/net/websocket.*): the handshake,
// frames to the client, and the client's frames read in any pieces with
// hard limits. The server using it is tested in http_stream_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/websocket.hpp"

namespace sluice::net {
namespace {

HttpRequest handshake() {
    HttpRequest r;
    r.method = "GET";
    r.path = r.target = "/ws/p/live";
    r.headers = {{"Host", "gw"}, {"Upgrade", "websocket"}, {"Connection", "keep-alive, Upgrade"},
                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-WebSocket-Version", "13"}};
    return r;
}

// A masked client frame.
std::string client_frame(std::uint8_t first, std::string_view payload, std::string_view mask = "\x37\xfa\x21\x3d") {
    std::string out;
    out.push_back(static_cast<char>(first));
    const std::size_t n = payload.size();
    if (n <= 125) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF));
        }
    }
    out.append(mask);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    }
    return out;
}

TEST(WebSocket, AcceptKeyOfRfc6455) {
    EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    std::string out;
    append_websocket_handshake(out, "dGhlIHNhbXBsZSBub25jZQ==");
    EXPECT_EQ(out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
}

TEST(WebSocket, WhatAHandshakeNeeds) {
    std::string why;
    EXPECT_FALSE(websocket_refusal(handshake(), &why)) << why;
    auto with = [](std::string_view name, std::string value) {
        HttpRequest r = handshake();
        for (auto& [n, v] : r.headers) {
            if (n == name) {
                v = std::move(value);
            }
        }
        return r;
    };
    EXPECT_EQ(websocket_refusal(with("Upgrade", "h2c"), &why), 426);
    EXPECT_EQ(websocket_refusal(with("Connection", "keep-alive"), &why), 426);
    EXPECT_EQ(websocket_refusal(with("Sec-WebSocket-Version", "8"), &why), 426);
    EXPECT_NE(why.find("13"), std::string::npos);
    EXPECT_EQ(websocket_refusal(with("Sec-WebSocket-Key", "short=="), &why), 400);
    EXPECT_EQ(websocket_refusal(with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ!="), &why), 400);
    HttpRequest post = handshake();
    post.method = "POST";
    EXPECT_EQ(websocket_refusal(post, &why), 405);
    HttpRequest old = handshake();
    old.version_minor = 0;
    EXPECT_EQ(websocket_refusal(old, &why), 400);
}

TEST(WebSocket, ServerFramesAreUnmaskedWithTheShortestLength) {
    std::string out;
    append_ws_frame(out, WsOpcode::Text, "Hello");
    EXPECT_EQ(out, std::string("\x81\x05Hello"));
    out.clear();
    append_ws_frame(out, WsOpcode::Text, std::string(126, 'x'));
    EXPECT_EQ(out.substr(0, 4), std::string("\x81\x7e\x00\x7e", 4));
    EXPECT_EQ(out.size(), 4u + 126);
    out.clear();
    append_ws_frame(out, WsOpcode::Binary, std::string(65536, 'x'));
    EXPECT_EQ(out.substr(0, 10), std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
    out.clear();
    append_ws_close(out, kWsProtocolError, std::string(200, 'r'));
    EXPECT_EQ(out.substr(0, 4), std::string("\x88\x7d\x03\xea", 4));  // 125 bytes: the code and 123 of the reason
    EXPECT_EQ(out.size(), 2u + 125);
}

TEST(WebSocket, ReadsTheRfcsMaskedHelloInAnyPieces) {
    const std::string wire = std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11) +
                             client_frame(0x89, "ping!") + client_frame(0x82, std::string(70000, 'b')) +
                             client_frame(0x88, "\x03\xe8");
    for (std::size_t piece : {wire.size(), std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{4096}}) {
        WsFrameReader r(1 << 20);
        std::vector<WsFrame> frames;
        for (std::size_t i = 0; i < wire.size(); i += piece) {
            ASSERT_TRUE(r.feed(std::string_view(wire).substr(i, piece), frames)) << r.error();
        }
        ASSERT_EQ(frames.size(), 4u) << piece;
        EXPECT_EQ(frames[0].opcode, WsOpcode::Text);
        EXPECT_EQ(frames[0].payload, "Hello");
        EXPECT_EQ(frames[1].opcode, WsOpcode::Ping);
        EXPECT_EQ(frames[1].payload, "ping!");
        EXPECT_EQ(frames[2].payload, std::string(70000, 'b'));
        EXPECT_EQ(frames[3].opcode, WsOpcode::Close);
        EXPECT_EQ(frames[3].payload, std::string("\x03\xe8"));
    }
}

TEST(WebSocket, ACloseIsAnsweredWithAValidCode) {
    EXPECT_EQ(ws_close_reply(std::string("\x03\xe8", 2)), 1000);
    EXPECT_EQ(ws_close_reply(std::string("\x03\xf3" "bye", 5)), 1011);
    EXPECT_EQ(ws_close_reply(std::string("\x0f\xa0", 2)), 4000);
    EXPECT_EQ(ws_close_reply("x"), kWsProtocolError);                        // one byte
    EXPECT_EQ(ws_close_reply(std::string("\x03\xed", 2)), kWsProtocolError);  // 1005 is never sent
    EXPECT_EQ(ws_close_reply(std::string("\x03\xee", 2)), kWsProtocolError);  // 1006 neither
    EXPECT_EQ(ws_close_reply(std::string("\x00\x10", 2)), kWsProtocolError);
}

TEST(WebSocket, RuleBreakersEndTheReadWithACloseCode) {
    struct Case {
        std::string wire;
        std::uint16_t code;
    };
    std::string unmasked("\x81\x05Hello");
    const Case cases[] = {
        {unmasked, kWsProtocolError},
        {client_frame(0xC1, "x"), kWsProtocolError},                      // RSV1 without an extension
        {client_frame(0x83, "x"), kWsProtocolError},                      // opcode 3 is reserved
        {client_frame(0x09, "x"), kWsProtocolError},                      // a fragmented ping
        {client_frame(0x89, std::string(126, 'p')), kWsProtocolError},    // a ping over 125 bytes
        {client_frame(0x81, std::string(65537, 't')), kWsTooBig},         // over the reader's limit
        {std::string("\x81\xff\x80\x00\x00\x00\x00\x00\x00\x00mask", 14), kWsProtocolError},  // length's top bit
    };
    for (const auto& c : cases) {
        WsFrameReader r(64 * 1024);
        std::vector<WsFrame> frames;
        EXPECT_FALSE(r.feed(c.wire, frames));
        EXPECT_TRUE(frames.empty());
        EXPECT_EQ(r.close_code(), c.code) << r.error();
        EXPECT_FALSE(r.error().empty());
        EXPECT_FALSE(r.feed(client_frame(0x81, "after"), frames));  // nothing more is read
    }
}

}  // namespace
}  // namespace sluice::net
