// Streamed responses (Server-Sent Events, WebSocket): the bounded per-client
// queue and its drop counting, the server writing a stream (chunked, as
// WebSocket frames, heartbeat, end, client leaving, stalled client), the client reading one
// (HttpClient::request_stream), the broadcaster (LiveFeed) and the tap.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/ioloop.hpp"
#include "core/metrics.hpp"
#include "net/live_feed.hpp"
#include "http/tap.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 20s;  // only reached when something is broken

template <class Pred>
bool wait_for(Pred pred) {
    const auto until = std::chrono::steady_clock::now() + kDeadline;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

std::uint64_t dropped_metric() {
    return metrics().counter("sluice_http_stream_dropped_events_total", "").value();
}

TEST(HttpStreamQueue, DropsNewestWhenTheEventBoundIsReachedAndCountsThem) {
    HttpStream s(HttpStreamLimits{3, 1 << 20});
    const auto before = dropped_metric();
    EXPECT_TRUE(s.push("a"));
    EXPECT_TRUE(s.push("b"));
    EXPECT_TRUE(s.push("c"));
    EXPECT_FALSE(s.push("d"));
    EXPECT_FALSE(s.push("e"));
    EXPECT_EQ(s.dropped(), 2u);
    EXPECT_EQ(dropped_metric() - before, 2u);
    auto t = s.take();
    ASSERT_EQ(t.events.size(), 3u);
    EXPECT_EQ(t.events[0], "a");  // the oldest are kept, the newest dropped
    EXPECT_EQ(t.events[2], "c");
    EXPECT_EQ(t.dropped, 2u);
    EXPECT_FALSE(t.closed);
    EXPECT_TRUE(s.push("f"));  // room again
    t = s.take();
    EXPECT_EQ(t.events.size(), 1u);
    EXPECT_EQ(t.dropped, 0u);  // announced once
    EXPECT_EQ(s.dropped(), 2u);  // the total stays
}

TEST(HttpStreamQueue, DropsWhenTheByteBoundIsReached) {
    HttpStream s(HttpStreamLimits{100, 10});
    EXPECT_TRUE(s.push("123456"));
    EXPECT_FALSE(s.push("123456"));
    EXPECT_TRUE(s.push("1234"));
    EXPECT_FALSE(s.push("x"));
    EXPECT_EQ(s.dropped(), 2u);
}

TEST(HttpStreamQueue, AProducerCanSkipBuildingEventsForAFullQueue) {
    HttpStream s(HttpStreamLimits{2, 1 << 20});
    EXPECT_FALSE(s.full());
    s.push("a");
    s.push("b");
    EXPECT_TRUE(s.full());
    const auto before = dropped_metric();
    s.drop(5);
    EXPECT_EQ(s.dropped(), 5u);
    EXPECT_EQ(dropped_metric() - before, 5u);
    EXPECT_EQ(s.take().dropped, 5u);  // announced like any other drop
    EXPECT_FALSE(s.full());
}

TEST(HttpStreamQueue, CloseAndDetach) {
    HttpStream s;
    int woken = 0;
    s.attach([&] { ++woken; });
    EXPECT_TRUE(s.push("a"));
    EXPECT_TRUE(s.push("b"));
    EXPECT_EQ(woken, 1);  // once until the server takes
    s.take();
    EXPECT_TRUE(s.push("c"));
    EXPECT_EQ(woken, 2);
    int ended = 0;
    s.on_end([&] { ++ended; });
    s.close();
    EXPECT_TRUE(s.closed());
    EXPECT_FALSE(s.push("d"));
    auto t = s.take();
    EXPECT_TRUE(t.closed);
    EXPECT_EQ(t.events.size(), 1u);
    s.detach();
    s.detach();
    EXPECT_EQ(ended, 1);
}

TEST(HttpStreamQueue, SseEventFormat) {
    EXPECT_EQ(sse_event("{\"a\":1}"), "data: {\"a\":1}\n\n");
    EXPECT_EQ(sse_event("x\ny", "dropped"), "event: dropped\ndata: x\ndata: y\n\n");
}

// A server whose /stream hands out its streams to the test.
struct StreamServer {
    explicit StreamServer(HttpServerLimits limits = {}, HttpStreamLimits stream_limits = {}) {
        loop.start();
        server = std::make_unique<HttpServer>(
            loop,
            [this, stream_limits](const HttpRequest& req) {
                if (req.path == "/ws") {
                    return HttpResponse::websocket_stream(
                        [this](HttpStreamHandle s) {
                            std::lock_guard lk(mu);
                            streams.push_back(std::move(s));
                        },
                        stream_limits);
                }
                if (req.path != "/stream") {
                    return HttpResponse{200, "text/plain", {}, "plain\n"};
                }
                return HttpResponse::event_stream(
                    [this](HttpStreamHandle s) {
                        std::lock_guard lk(mu);
                        streams.push_back(std::move(s));
                    },
                    stream_limits);
            },
            limits);
        std::string error;
        EXPECT_TRUE(server->listen("127.0.0.1:0", &error)) << error;
    }
    ~StreamServer() {
        loop.call([this] { server.reset(); });
        loop.stop();
    }
    HttpStreamHandle stream(std::size_t i) {
        HttpStreamHandle s;
        wait_for([&] {
            std::lock_guard lk(mu);
            if (streams.size() > i) {
                s = streams[i];
            }
            return s != nullptr;
        });
        return s;
    }

    IoLoop loop;
    std::unique_ptr<HttpServer> server;
    std::mutex mu;
    std::vector<HttpStreamHandle> streams;
};

class RawClient {
public:
    explicit RawClient(std::uint16_t port, int rcvbuf = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (rcvbuf > 0) {
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        timeval tv{20, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    ~RawClient() { ::close(fd_); }
    void send(std::string_view s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }
    // Reads until `needle` was seen (true) or EOF/timeout (false).
    bool read_until(std::string_view needle) {
        char buf[65536];
        while (got.find(needle) == std::string::npos) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                return false;
            }
            got.append(buf, static_cast<std::size_t>(n));
        }
        return true;
    }
    std::string got;

private:
    int fd_ = -1;
};

// A masked client frame (mask 1 2 3 4).
std::string ws_client_frame(std::uint8_t first, std::string_view payload) {
    std::string out{static_cast<char>(first), static_cast<char>(0x80 | payload.size())};
    const char mask[4] = {1, 2, 3, 4};
    out.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    }
    return out;
}

constexpr std::string_view kWsHandshake =
    "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

TEST(HttpServerWebSocket, EventsAsTextFramesPingAnsweredCloseEchoed) {
    StreamServer srv;
    RawClient c(srv.server->port());
    c.send(kWsHandshake);
    ASSERT_TRUE(c.read_until("\r\n\r\n"));
    EXPECT_EQ(c.got.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << c.got;
    EXPECT_NE(c.got.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), std::string::npos) << c.got;
    c.got.clear();
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(s->push("{\"n\":1}"));
    EXPECT_TRUE(s->push("{\"n\":2}"));
    ASSERT_TRUE(c.read_until("{\"n\":2}"));
    EXPECT_EQ(c.got, std::string("\x81\x07{\"n\":1}\x81\x07{\"n\":2}"));
    c.got.clear();
    c.send(ws_client_frame(0x89, "hi"));
    ASSERT_TRUE(c.read_until("hi"));
    EXPECT_EQ(c.got, std::string("\x8a\x02hi"));
    c.got.clear();
    c.send(ws_client_frame(0x81, "ignored"));  // data from the client is read and dropped
    c.send(ws_client_frame(0x88, std::string("\x03\xe8", 2)));
    ASSERT_TRUE(c.read_until(std::string("\x88\x02\x03\xe8", 4)));
    EXPECT_FALSE(c.read_until("more"));  // then the server closes
    EXPECT_TRUE(wait_for([&] { return s->closed(); }));  // and the producer learns it
}

TEST(HttpServerWebSocket, TheProducerClosingSendsACloseFrame) {
    StreamServer srv;
    RawClient c(srv.server->port());
    c.send(kWsHandshake);
    ASSERT_TRUE(c.read_until("\r\n\r\n"));
    c.got.clear();
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    s->push("last");
    s->close();
    ASSERT_TRUE(c.read_until(std::string("\x88\x02\x03\xe8", 4)));
    EXPECT_EQ(c.got, std::string("\x81\x04last\x88\x02\x03\xe8", 10));
}

TEST(HttpServerWebSocket, AProtocolErrorClosesWith1002AndAPlainRequestGets426) {
    StreamServer srv;
    {
        RawClient c(srv.server->port());
        c.send(kWsHandshake);
        ASSERT_TRUE(c.read_until("\r\n\r\n"));
        c.got.clear();
        c.send("\x81\x02hi");  // not masked
        ASSERT_TRUE(c.read_until("masked"));
        EXPECT_EQ(c.got.substr(0, 4), std::string("\x88") + static_cast<char>(c.got.size() - 2) + "\x03\xea");
    }
    RawClient plain(srv.server->port());
    plain.send("GET /ws HTTP/1.1\r\nHost: gw\r\n\r\n");
    ASSERT_TRUE(plain.read_until("\r\n\r\n"));
    EXPECT_EQ(plain.got.rfind("HTTP/1.1 426 ", 0), 0u) << plain.got;
    EXPECT_NE(plain.got.find("Sec-WebSocket-Version: 13"), std::string::npos) << plain.got;
}

TEST(HttpServerWebSocket, HeartbeatIsAPingAndAClientSilentThroughThreeIsClosed) {
    HttpServerLimits limits;
    limits.stream_heartbeat = 50ms;
    StreamServer srv(limits);
    RawClient c(srv.server->port());
    c.send(kWsHandshake);
    ASSERT_TRUE(c.read_until("\r\n\r\n"));
    c.got.clear();
    ASSERT_TRUE(c.read_until(std::string("\x89\x00", 2)));
    // It answers none: a vanished client (no RST) must not keep its place.
    ASSERT_TRUE(c.read_until("no answer to pings"));
    EXPECT_NE(c.got.find(std::string("\x88\x14\x03\xe9", 4)), std::string::npos);  // close 1001
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(wait_for([&] { return s->closed(); }));
}

TEST(HttpServerWebSocket, AClientAnsweringPingsStays) {
    HttpServerLimits limits;
    limits.stream_heartbeat = 100ms;  // an answer may come up to 200 ms late (a loaded sanitizer run)
    StreamServer srv(limits);
    RawClient c(srv.server->port());
    c.send(kWsHandshake);
    ASSERT_TRUE(c.read_until("\r\n\r\n"));
    for (int i = 0; i < 5; ++i) {  // five heartbeats, each answered
        c.got.clear();
        ASSERT_TRUE(c.read_until(std::string("\x89\x00", 2)));
        c.send(ws_client_frame(0x8A, ""));
    }
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(s->closed());
}

TEST(HttpServerStream, EventsPushedFromAnotherThreadArriveChunkedUntilClosed) {
    StreamServer srv;
    HttpClientOptions o;
    o.host = "127.0.0.1";
    o.port = srv.server->port();
    HttpClient client(o);
    std::string body;
    std::thread producer([&] {
        auto s = srv.stream(0);
        ASSERT_NE(s, nullptr);
        for (int i = 0; i < 100; ++i) {
            EXPECT_TRUE(s->push(sse_event("{\"n\":" + std::to_string(i) + "}")));
        }
        s->close();
    });
    std::string error;
    auto r = client.request_stream("GET", "/stream", {}, [&](std::string_view piece) {
        body.append(piece);
        return true;
    }, &error);
    producer.join();
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, 200);
    ASSERT_NE(r->header("content-type"), nullptr);
    EXPECT_EQ(*r->header("content-type"), "text/event-stream; charset=utf-8");
    ASSERT_NE(r->header("transfer-encoding"), nullptr);
    std::string expected;
    for (int i = 0; i < 100; ++i) {
        expected += sse_event("{\"n\":" + std::to_string(i) + "}");
    }
    EXPECT_EQ(body, expected);
}

TEST(HttpServerStream, TheClientStopsReadingWhenItHasHadEnough) {
    StreamServer srv;
    HttpClientOptions o;
    o.host = "127.0.0.1";
    o.port = srv.server->port();
    HttpClient client(o);
    std::thread producer([&] {
        auto s = srv.stream(0);
        ASSERT_NE(s, nullptr);
        while (!s->closed()) {
            s->push(sse_event("tick"));
            std::this_thread::sleep_for(1ms);
        }
    });
    std::string error;
    int pieces = 0;
    auto r = client.request_stream("GET", "/stream", {}, [&](std::string_view) { return ++pieces < 3; }, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(pieces, 3);
    producer.join();  // ends once the server noticed the client left: the stream is closed
}

TEST(HttpServerStream, HeartbeatsKeepAStreamOpenPastTheIdleTimeout) {
    HttpServerLimits limits;
    limits.idle_timeout = 300ms;
    limits.stream_heartbeat = 50ms;
    StreamServer srv(limits);
    RawClient c(srv.server->port());
    c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(c.read_until("\r\n\r\n"));
    EXPECT_NE(c.got.find("Transfer-Encoding: chunked"), std::string::npos);
    // Ten heartbeats take longer than the idle timeout.
    std::size_t beats = 0;
    while (beats < 10) {
        ASSERT_TRUE(c.read_until(": keepalive\n\n")) << c.got;
        c.got.erase(0, c.got.find(": keepalive\n\n") + 13);
        ++beats;
    }
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    EXPECT_FALSE(s->closed());
    EXPECT_TRUE(s->push(sse_event("still here")));
    EXPECT_TRUE(c.read_until("data: still here\n\n"));
}

TEST(HttpServerStream, HttpOneZeroIsReadUntilClose) {
    StreamServer srv;
    RawClient c(srv.server->port());
    c.send("GET /stream HTTP/1.0\r\n\r\n");
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    s->push(sse_event("one"));
    s->close();
    c.read_until("never");  // until EOF
    EXPECT_EQ(c.got.find("Transfer-Encoding"), std::string::npos);
    EXPECT_NE(c.got.find("Connection: close"), std::string::npos);
    EXPECT_NE(c.got.find("\r\n\r\ndata: one\n\n"), std::string::npos);
}

TEST(HttpServerStream, AClientLeavingEndsTheStreamForTheProducer) {
    StreamServer srv;
    std::atomic<int> ended{0};
    {
        RawClient c(srv.server->port());
        c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
        auto s = srv.stream(0);
        ASSERT_NE(s, nullptr);
        s->on_end([&] { ++ended; });
        ASSERT_TRUE(c.read_until("\r\n\r\n"));
    }
    EXPECT_TRUE(wait_for([&] { return ended.load() == 1; }));
    EXPECT_TRUE(srv.stream(0)->closed());
    EXPECT_FALSE(srv.stream(0)->push("x"));
}

TEST(HttpServerStream, AStalledClientNeverBlocksTheProducerAndIsToldWhatItMissed) {
    StreamServer srv({}, HttpStreamLimits{64, 64 * 1024});
    RawClient c(srv.server->port(), 4096);
    c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    auto s = srv.stream(0);
    ASSERT_NE(s, nullptr);
    const auto metric_before = dropped_metric();
    const std::string payload(1000, 'x');
    // The client reads nothing: once the socket buffers and the queue are
    // full, pushes drop (and return at once) instead of waiting.
    std::uint64_t pushed = 0;
    while (s->dropped() < 100 && pushed < 1'000'000) {
        s->push(sse_event(payload));
        ++pushed;
    }
    ASSERT_GE(s->dropped(), 100u);
    EXPECT_GE(dropped_metric() - metric_before, 100u);
    // The loop is not held up by it either: another request is answered.
    {
        HttpClientOptions o;
        o.host = "127.0.0.1";
        o.port = srv.server->port();
        HttpClient other(o);
        std::string error;
        auto r = other.request("GET", "/plain", {}, {}, &error);
        ASSERT_TRUE(r) << error;
        EXPECT_EQ(r->status, 200);
    }
    // Once it reads again, it is told how many it missed.
    ASSERT_TRUE(c.read_until("event: dropped\ndata: {\"dropped\":")) << c.got.size();
    EXPECT_FALSE(s->closed());
}

TEST(HttpServerStream, StreamsCountAgainstMaxConnectionsAndCanBeEvicted) {
    HttpServerLimits limits;
    limits.max_connections = 2;
    limits.max_connections_per_address = 0;
    StreamServer srv(limits);
    RawClient a(srv.server->port());
    a.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(a.read_until("\r\n\r\n"));
    RawClient b(srv.server->port());
    b.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(b.read_until("\r\n\r\n"));
    auto first = srv.stream(0);
    ASSERT_NE(first, nullptr);
    // A third client gets in: the oldest stream makes room.
    RawClient c(srv.server->port());
    c.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(c.read_until("plain\n"));
    EXPECT_TRUE(wait_for([&] { return first->closed(); }));
}

}  // namespace
}  // namespace sluice::net

namespace sluice::http {
namespace {

using namespace std::chrono_literals;

struct FeedServer {
    FeedServer() {
        loop.start();
        server = std::make_unique<net::HttpServer>(loop, [this](const net::HttpRequest& req) {
            if (req.path == "/feed") {
                return feed.serve();
            }
            return tap.serve(req);
        });
        std::string error;
        EXPECT_TRUE(server->listen("127.0.0.1:0", &error)) << error;
    }
    ~FeedServer() {
        loop.call([this] { server.reset(); });
        loop.stop();
    }
    IoLoop loop;
    net::LiveFeed feed{2};
    Tap tap;
    std::unique_ptr<net::HttpServer> server;
};

std::optional<net::HttpClientResponse> read_stream(std::uint16_t port, const std::string& target, std::string& body,
                                                   std::function<bool(const std::string&)> enough) {
    net::HttpClientOptions o;
    o.host = "127.0.0.1";
    o.port = port;
    net::HttpClient client(o);
    std::string error;
    return client.request_stream("GET", target, {}, [&](std::string_view piece) {
        body.append(piece);
        return !enough(body);
    }, &error);
}

TEST(LiveFeed, FansOutToEverySubscriberAndRefusesBeyondTheBound) {
    FeedServer srv;
    EXPECT_FALSE(srv.feed.listening());
    srv.feed.publish("nobody listens");  // costs nothing, goes nowhere
    std::string a, b;
    std::thread ta([&] { read_stream(srv.server->port(), "/feed", a, [](const std::string& s) { return s.find("data: 2") != std::string::npos; }); });
    std::thread tb([&] { read_stream(srv.server->port(), "/feed", b, [](const std::string& s) { return s.find("data: 2") != std::string::npos; }); });
    ASSERT_TRUE(net::wait_for([&] { return srv.feed.subscribers() == 2; }));
    EXPECT_TRUE(srv.feed.listening());
    {
        std::string c;
        auto r = read_stream(srv.server->port(), "/feed", c, [](const std::string&) { return true; });
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 503);
    }
    srv.feed.publish("1");
    srv.feed.publish("2");
    ta.join();
    tb.join();
    EXPECT_EQ(a, "data: 1\n\ndata: 2\n\n");
    EXPECT_EQ(b, a);
    EXPECT_TRUE(net::wait_for([&] { return srv.feed.subscribers() == 0; }));
}

Record record(std::string m, double v) {
    Record r;
    r.measurement = std::move(m);
    r.time_ns = 1'700'000'000'000'000'000;
    r.fields.push_back(Field{"value", FieldValue{v}});
    return r;
}

TEST(Tap, RecordJsonCarriesComponentAndPoint) {
    const std::string j = tap_record_json(record("temp", 1.5), "p/map1", "stage");
    EXPECT_NE(j.find("\"measurement\":\"temp\""), std::string::npos) << j;
    EXPECT_NE(j.find(",\"_component\":\"p/map1\",\"_point\":\"stage\"}"), std::string::npos) << j;
}

TEST(Tap, FiltersByPipelineAndComponentAndEndsAfterTheLimit) {
    FeedServer srv;
    EXPECT_FALSE(srv.tap.active());
    std::string body;
    std::optional<net::HttpClientResponse> r;
    std::thread t([&] {
        r = read_stream(srv.server->port(), "/api/tap?pipeline=p&component=s1&limit=2", body,
                        [](const std::string&) { return false; });
    });
    ASSERT_TRUE(net::wait_for([&] { return srv.tap.active(); }));
    const std::vector<Record> recs{record("a", 1), record("b", 2), record("c", 3)};
    srv.tap.observe("q/s1", "source", recs);  // another pipeline
    srv.tap.observe("p/s2", "source", recs);  // another component
    srv.tap.observe("p/s1", "stage", recs);   // 2 of these 3, then the stream ends
    t.join();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(body.find("\"measurement\":\"a\""), std::string::npos) << body;
    EXPECT_NE(body.find("\"measurement\":\"b\""), std::string::npos) << body;
    EXPECT_EQ(body.find("\"measurement\":\"c\""), std::string::npos) << body;
    EXPECT_EQ(body.find("q/s1"), std::string::npos);
    EXPECT_EQ(body.find("p/s2"), std::string::npos);
    EXPECT_TRUE(net::wait_for([&] { return !srv.tap.active(); }));
}

TEST(Tap, RefusesABadLimit) {
    Tap tap;
    net::HttpRequest req;
    req.method = "GET";
    req.path = "/api/tap";
    req.query = "limit=x";
    EXPECT_EQ(tap.serve(req).status, 400);
}

}  // namespace
}  // namespace sluice::http
