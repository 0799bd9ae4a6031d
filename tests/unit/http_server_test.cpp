// End to end: a real IoLoop and HttpServer on 127.0.0.1:0, driven through
// blocking client sockets with receive timeouts (no sleeps).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/ioloop.hpp"
#include "core/metrics.hpp"
#include "net/http_parser.hpp"
#include "net/http_server.hpp"

namespace sluice::net {
namespace {

constexpr int kTimeoutSeconds = 20;  // generous: only reached when something is broken

struct ClientResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    const std::string* header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (iequals(k, name)) {
                return &v;
            }
        }
        return nullptr;
    }
};

class Client {
public:
    // `rcvbuf` > 0 shrinks the receive buffer (before connect, so the
    // advertised window matches) to make a slow reader. `from` binds the
    // client to another loopback address (127.0.0.0/8 all reach 127.0.0.1),
    // so the server sees a second client address.
    explicit Client(std::uint16_t port, int rcvbuf = 0, const char* from = nullptr) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (rcvbuf > 0) {
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        }
        if (from != nullptr) {
            sockaddr_in local{};
            local.sin_family = AF_INET;
            ::inet_pton(AF_INET, from, &local.sin_addr);
            ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
        }
        timeval tv{kTimeoutSeconds, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~Client() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }

    bool send(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one response (Content-Length framed). nullopt on EOF, error or timeout.
    std::optional<ClientResponse> read_response(bool head_request = false) {
        std::size_t end;
        while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        ClientResponse r;
        const std::string head = buf_.substr(0, end);
        buf_.erase(0, end + 4);
        std::size_t pos = head.find("\r\n");
        const std::string status_line = head.substr(0, pos);
        if (status_line.size() < 12 || status_line.compare(0, 9, "HTTP/1.1 ") != 0) {
            return std::nullopt;
        }
        r.status = std::stoi(status_line.substr(9, 3));
        while (pos != std::string::npos) {
            const std::size_t start = pos + 2;
            pos = head.find("\r\n", start);
            const std::string line = head.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
            const auto colon = line.find(':');
            if (colon == std::string::npos) {
                return std::nullopt;
            }
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') {
                value.erase(0, 1);
            }
            r.headers.emplace_back(line.substr(0, colon), value);
        }
        std::size_t length = 0;
        if (const auto* cl = r.header("content-length"); cl != nullptr && !head_request) {
            length = std::stoul(*cl);
        }
        while (buf_.size() < length) {
            if (!fill()) {
                return std::nullopt;
            }
        }
        r.body = buf_.substr(0, length);
        buf_.erase(0, length);
        return r;
    }

    std::optional<ClientResponse> request(std::string_view raw, bool head_request = false) {
        if (!send(raw)) {
            return std::nullopt;
        }
        return read_response(head_request);
    }

    // True when the server closes the connection, after whatever response
    // it sent first (an eviction may say 503 on its way out).
    bool closed_by_server() {
        char tmp[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                return true;
            }
            if (n < 0) {
                return false;  // timeout: still open
            }
        }
    }

    // Sends `data` one byte at a time, `gap` apart, until the server answers
    // or closes (poll on the socket paces it, so an answer ends it at once).
    // False if every byte went out without an answer.
    bool trickle(std::string_view data, std::chrono::milliseconds gap) {
        for (char ch : data) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(gap.count())) > 0) {
                return true;
            }
            if (::send(fd_, &ch, 1, MSG_NOSIGNAL) != 1) {
                return true;
            }
        }
        return false;
    }

    // True when the server closed the connection and nothing else arrived.
    bool reads_eof() {
        if (!buf_.empty()) {
            return false;
        }
        char c;
        const ssize_t n = ::recv(fd_, &c, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

    int fd() const { return fd_; }

private:
    bool fill() {
        char tmp[65536];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n <= 0) {
            return false;
        }
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    bool connected_ = false;
    std::string buf_;
};

// Polls a loop-thread value until it holds or the deadline passes.
template <class Pred>
bool wait_until(Pred pred, std::chrono::seconds timeout = std::chrono::seconds(kTimeoutSeconds)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::yield();
    }
    return pred();
}

HttpResponse echo(const HttpRequest& req) {
    if (req.path == "/missing") {
        return HttpResponse{404, "text/plain; charset=utf-8", {}, "not found\n"};
    }
    if (req.path == "/throw") {
        throw std::runtime_error("boom");
    }
    if (req.path == "/later") {  // answered through the deferred path (from the loop here)
        HttpResponse r;
        r.deferred = [](HttpRespond respond) { respond(HttpResponse{200, "text/plain", {}, "later"}); };
        return r;
    }
    if (req.path == "/later-throw") {
        HttpResponse r;
        r.deferred = [](HttpRespond) { throw std::runtime_error("cannot hand it over"); };
        return r;
    }
    if (req.path == "/big") {
        const std::size_t n = std::stoul(req.query_param("n").value_or("1000"));
        return HttpResponse{200, "application/octet-stream", {}, std::string(n, 'x')};
    }
    HttpResponse r;
    r.headers.emplace_back("X-Method", req.method);
    r.headers.emplace_back("X-Path", req.path);
    r.body = req.method == "POST" ? req.body : "hello " + req.path;
    return r;
}

class HttpServerTest : public ::testing::Test {
protected:
    void start(HttpServerLimits limits = {}) {
        loop_.start();
        server_ = std::make_unique<HttpServer>(loop_, echo, limits);
        std::string error;
        ASSERT_TRUE(server_->listen("127.0.0.1:0", &error)) << error;
        ASSERT_NE(server_->port(), 0);
    }
    void TearDown() override { server_.reset(); }

    std::size_t connections() {
        std::size_t n = 0;
        loop_.call([&] { n = server_->connection_count(); });
        return n;
    }

    HttpServerStats stats() {
        HttpServerStats s;
        loop_.call([&] { s = server_->stats(); });
        return s;
    }

    // Connects and waits until the server has accepted, so the order of
    // acceptance (which decides who is evicted first) is the order of calls.
    std::unique_ptr<Client> connect_accepted(const char* from = nullptr) {
        const std::size_t before = connections();
        auto c = std::make_unique<Client>(server_->port(), 0, from);
        EXPECT_TRUE(c->connected());
        EXPECT_TRUE(wait_until([&] { return connections() > before; }));
        return c;
    }

    IoLoop loop_;
    std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, Get) {
    start();
    Client c(server_->port());
    ASSERT_TRUE(c.connected());
    auto r = c.request("GET /some%20where?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello /some where");
    ASSERT_NE(r->header("content-length"), nullptr);
    EXPECT_EQ(*r->header("content-length"), "17");
    EXPECT_EQ(*r->header("content-type"), "text/plain; charset=utf-8");
    EXPECT_EQ(*r->header("x-method"), "GET");
    EXPECT_NE(r->header("date"), nullptr);
    EXPECT_EQ(r->header("connection"), nullptr);
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
    start();
    Client c(server_->port());
    auto a = c.request("GET /one HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->body, "hello /one");
    auto b = c.request("GET /two HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->body, "hello /two");
    EXPECT_EQ(connections(), 1u);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
    start();
    Client c(server_->port());
    std::string batch;
    for (int i = 0; i < 10; ++i) {
        batch += "GET /p" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
    }
    batch += "POST /post HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody";
    batch += "GET /last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    ASSERT_TRUE(c.send(batch));
    for (int i = 0; i < 10; ++i) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body, "hello /p" + std::to_string(i));
    }
    auto post = c.read_response();
    ASSERT_TRUE(post);
    EXPECT_EQ(post->body, "body");
    auto last = c.read_response();
    ASSERT_TRUE(last);
    EXPECT_EQ(last->body, "hello /last");
    ASSERT_NE(last->header("connection"), nullptr);
    EXPECT_EQ(*last->header("connection"), "close");
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, NotFoundFromHandler) {
    start();
    Client c(server_->port());
    auto r = c.request("GET /missing HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    // 404 is an ordinary answer: the connection stays usable.
    auto again = c.request("GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
}

TEST_F(HttpServerTest, PostBody) {
    start();
    Client c(server_->port());
    std::string body(300 * 1024, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) {
        body[i] = static_cast<char>('a' + i % 26);
    }
    auto r = c.request("POST /in HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                       body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(*r->header("x-method"), "POST");
    EXPECT_EQ(r->body.size(), body.size());
    EXPECT_TRUE(r->body == body);
}

TEST_F(HttpServerTest, OversizedHeaderGets431AndClose) {
    start();
    Client c(server_->port());
    const std::string big(20 * 1024, 'a');
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + big + "\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
    ASSERT_NE(r->header("connection"), nullptr);
    EXPECT_EQ(*r->header("connection"), "close");
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, OversizedBodyGets413) {
    HttpServerLimits limits;
    limits.max_body_bytes = 1000;
    start(limits);
    Client c(server_->port());
    auto r = c.request("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'z'));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, MalformedGets400AndClose) {
    start();
    Client c(server_->port());
    auto r = c.request("HELLO\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, ChunkedBodyGets501) {
    start();
    Client c(server_->port());
    auto r = c.request("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 501);
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, Http10ClosesAfterResponse) {
    start();
    Client c(server_->port());
    auto r = c.request("GET /old HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello /old");
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, Http10KeepAliveOnRequest) {
    start();
    Client c(server_->port());
    auto r = c.request("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r);
    ASSERT_NE(r->header("connection"), nullptr);
    EXPECT_EQ(*r->header("connection"), "keep-alive");
    auto b = c.request("GET /b HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->body, "hello /b");
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, HeadSendsLengthButNoBody) {
    start();
    Client c(server_->port());
    auto r = c.request("HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n", true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(*r->header("content-length"), "8");  // "hello /h"
    EXPECT_TRUE(r->body.empty());
    // Had a body been sent, it would now be read as the next status line.
    auto next = c.request("GET /n HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "hello /n");
}

TEST_F(HttpServerTest, DeferredResponsesKeepOrderHeadAndClose) {
    start();
    Client c(server_->port());
    ASSERT_TRUE(c.send("GET /later HTTP/1.1\r\nHost: t\r\n\r\n"
                       "GET /now HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto first = c.read_response();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->body, "later");
    auto second = c.read_response();
    ASSERT_TRUE(second);
    EXPECT_EQ(second->body, "hello /now");

    auto head = c.request("HEAD /later HTTP/1.1\r\nHost: t\r\n\r\n", true);
    ASSERT_TRUE(head);
    EXPECT_EQ(*head->header("content-length"), "5");
    EXPECT_TRUE(head->body.empty());

    auto failed = c.request("GET /later-throw HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->status, 500);

    auto last = c.request("GET /later HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(last);
    EXPECT_EQ(last->body, "later");
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, HandlerExceptionGives500) {
    start();
    Client c(server_->port());
    auto r = c.request("GET /throw HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    auto again = c.request("GET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
}

TEST_F(HttpServerTest, ExpectContinue) {
    start();
    Client c(server_->port());
    ASSERT_TRUE(c.send("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    auto interim = c.read_response();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(c.send("12345"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "12345");
}

TEST_F(HttpServerTest, LargeResponsesToASlowReaderArePartiallyWritten) {
    HttpServerLimits limits;
    limits.max_pending_output = 64 * 1024;  // forces the held-back-input path too
    start(limits);
    Client c(server_->port(), 8 * 1024);
    std::string batch;
    for (int i = 0; i < 8; ++i) {
        batch += "GET /big?n=" + std::to_string(512 * 1024 + i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
    }
    ASSERT_TRUE(c.send(batch));
    for (int i = 0; i < 8; ++i) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body.size(), static_cast<std::size_t>(512 * 1024 + i));
    }
    auto tail = c.request("GET /end HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(tail);
    EXPECT_EQ(tail->body, "hello /end");
}

TEST_F(HttpServerTest, FullTableEvictsTheOldestIncompleteConnection) {
    HttpServerLimits limits;
    limits.max_connections = 3;
    limits.max_connections_per_address = 0;
    start(limits);
    Counter& evictions = metrics().counter("sluice_http_evictions_total", "", {{"reason", "table_full"}});
    const std::uint64_t evictions_before = evictions.value();
    auto served = connect_accepted();  // oldest, but it completed a request: kept
    ASSERT_TRUE(served->request("GET /a HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto slow1 = connect_accepted();
    ASSERT_TRUE(slow1->send("GET / HT"));
    auto slow2 = connect_accepted();
    ASSERT_TRUE(slow2->send("GET"));
    ASSERT_EQ(connections(), 3u);

    // The newcomer is served instead of refused; slow1 made room.
    Client fresh(server_->port());
    auto r = fresh.request("GET /fresh HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(slow1->closed_by_server());
    auto again = served->request("GET /b HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, "hello /b");
    // slow2 is still there and can finish its request.
    auto late = slow2->request(" /slow2 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(late);
    EXPECT_EQ(late->body, "hello /slow2");
    EXPECT_EQ(stats().evicted_table_full, 1u);
    EXPECT_EQ(evictions.value() - evictions_before, 1u);
    EXPECT_EQ(stats().refused, 0u);
}

TEST_F(HttpServerTest, EvictionAnswersARequestThatAlreadyArrived) {
    // The oldest incomplete connection has sent its whole request, but the
    // server sees the newcomer first: it answers the request rather than
    // cutting it off, and closes the next candidate instead.
    HttpServerLimits limits;
    limits.max_connections = 2;
    limits.max_connections_per_address = 0;
    start(limits);
    auto probe = connect_accepted();
    auto slow = connect_accepted();
    ASSERT_TRUE(slow->send("GET"));
    // Hold the loop so that the newcomer's connect and then the probe's
    // request are both waiting, in that order, when it wakes up.
    std::atomic<bool> blocked{false};
    std::atomic<bool> release{false};
    loop_.post([&] {
        blocked = true;
        while (!release.load()) {
            std::this_thread::yield();
        }
    });
    ASSERT_TRUE(wait_until([&] { return blocked.load(); }));
    Client newcomer(server_->port());
    ASSERT_TRUE(newcomer.connected());
    ASSERT_TRUE(probe->send("GET /probe HTTP/1.1\r\nHost: t\r\n\r\n"));
    release = true;
    auto r = probe->read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello /probe");
    auto n = newcomer.request("GET /new HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(n);
    EXPECT_EQ(n->body, "hello /new");
    EXPECT_TRUE(slow->closed_by_server());
    EXPECT_EQ(stats().evicted_table_full, 1u);
}

TEST_F(HttpServerTest, PerAddressLimitEvictsOnlyThatAddress) {
    HttpServerLimits limits;
    limits.max_connections_per_address = 2;
    start(limits);
    auto other = connect_accepted("127.0.0.2");  // another client address, oldest of all and incomplete
    ASSERT_TRUE(other->send("GET /"));
    auto slow1 = connect_accepted();
    ASSERT_TRUE(slow1->send("G"));
    auto slow2 = connect_accepted();
    ASSERT_TRUE(slow2->send("G"));
    auto other2 = connect_accepted("127.0.0.2");  // at its own limit, not over it
    EXPECT_EQ(connections(), 4u);
    EXPECT_EQ(stats().evicted_address_limit, 0u);

    Client third(server_->port());  // 127.0.0.1's third: its oldest goes
    auto r = third.request("GET /third HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(slow1->closed_by_server());
    EXPECT_EQ(stats().evicted_address_limit, 1u);
    // 127.0.0.2's connections were older but not of that address: untouched.
    auto o = other->request(" HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->body, "hello /");
    auto s2 = slow2->request("ET /s2 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(s2);
    EXPECT_EQ(s2->body, "hello /s2");
    EXPECT_EQ(stats().evicted_table_full, 0u);
}

TEST_F(HttpServerTest, ConnectionsBusyAnsweringAreKeptAndTheNewcomerGets503) {
    HttpServerLimits limits;
    limits.max_connections = 1;
    start(limits);
    // A reader too slow for a 4 MB answer: the server is busy answering it.
    Client reader(server_->port(), 8 * 1024);
    ASSERT_TRUE(reader.send("GET /big?n=4000000 HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return connections() == 1; }));
    Client c(server_->port());
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(c.reads_eof());
    EXPECT_EQ(stats().refused, 1u);
    auto big = reader.read_response();
    ASSERT_TRUE(big);
    EXPECT_EQ(big->body.size(), 4000000u);
}

TEST_F(HttpServerTest, HeaderDeadlineClosesATricklingConnection) {
    HttpServerLimits limits;
    limits.header_timeout = std::chrono::milliseconds(300);
    limits.idle_timeout = std::chrono::seconds(30);  // every byte would reset this one
    start(limits);
    Client c(server_->port());
    const auto t0 = std::chrono::steady_clock::now();
    // 200 bytes 20 ms apart would take 4 s: far past the deadline.
    const std::string head = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(160, 'a') + "\r\n\r\n";
    ASSERT_TRUE(c.trickle(head, std::chrono::milliseconds(20)));
    auto r = c.read_response();
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_GE(elapsed, std::chrono::milliseconds(300));
    EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
    EXPECT_EQ(stats().header_timeouts, 1u);
    EXPECT_EQ(stats().idle_timeouts, 0u);
}

TEST_F(HttpServerTest, HeaderDeadlineCountsFromAcceptAndBlankLines) {
    HttpServerLimits limits;
    limits.header_timeout = std::chrono::milliseconds(200);
    start(limits);
    Client silent(server_->port());  // never sends a byte: closed quietly
    Client blank(server_->port());   // only the blank lines a parser skips
    EXPECT_TRUE(blank.trickle(std::string(200, '\n'), std::chrono::milliseconds(20)));
    EXPECT_TRUE(silent.reads_eof());
    EXPECT_TRUE(blank.closed_by_server());
    EXPECT_EQ(stats().header_timeouts, 2u);
}

TEST_F(HttpServerTest, HeaderDeadlineOfALaterRequestStartsAtItsFirstByte) {
    HttpServerLimits limits;
    limits.header_timeout = std::chrono::milliseconds(300);
    start(limits);
    Client c(server_->port());
    ASSERT_TRUE(c.request("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"));
    // Quiet for longer than header_timeout between requests: that is the
    // idle timeout's business, not the header deadline's.
    pollfd p{c.fd(), POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 600), 0);
    auto r = c.request("GET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello /2");
    EXPECT_EQ(stats().header_timeouts, 0u);
}

TEST_F(HttpServerTest, BodyDeadlineClosesATricklingUpload) {
    HttpServerLimits limits;
    limits.header_timeout = std::chrono::milliseconds(5000);
    limits.body_timeout = std::chrono::milliseconds(300);
    start(limits);
    Client c(server_->port());
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 200\r\n\r\n"));
    ASSERT_TRUE(c.trickle(std::string(200, 'b'), std::chrono::milliseconds(20)));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(c.closed_by_server());
    EXPECT_EQ(stats().body_timeouts, 1u);
    EXPECT_EQ(stats().header_timeouts, 0u);
}

TEST_F(HttpServerTest, IdleTimeoutOnHalfRequestGives408) {
    HttpServerLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(100);
    start(limits);
    Client c(server_->port());
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\n"));  // never finished
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(c.reads_eof());
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosedQuietly) {
    HttpServerLimits limits;
    limits.idle_timeout = std::chrono::milliseconds(100);
    start(limits);
    Client c(server_->port());
    ASSERT_TRUE(c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    EXPECT_TRUE(c.reads_eof());
    EXPECT_TRUE(wait_until([&] { return connections() == 0; }));
}

TEST_F(HttpServerTest, ClientDisconnectFreesConnection) {
    start();
    {
        Client c(server_->port());
        ASSERT_TRUE(c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
        ASSERT_TRUE(c.send("GET /half"));  // and leave mid-request
    }
    EXPECT_TRUE(wait_until([&] { return connections() == 0; }));
}

TEST_F(HttpServerTest, CloseDropsConnectionsAndListener) {
    start();
    Client c(server_->port());
    ASSERT_TRUE(c.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto port = server_->port();
    server_->close();
    EXPECT_TRUE(c.reads_eof());
    Client late(port);
    EXPECT_FALSE(late.connected() && late.request("GET / HTTP/1.1\r\nHost: t\r\n\r\n").has_value());
}

TEST(HttpServerClose, FromInsideAHandler) {
    IoLoop loop;
    loop.start();
    HttpServer* self = nullptr;
    HttpServer server(loop, [&](const HttpRequest&) {
        self->close();
        return HttpResponse{200, "text/plain", {}, "bye"};
    });
    self = &server;
    std::string error;
    ASSERT_TRUE(server.listen("127.0.0.1:0", &error)) << error;
    Client c(server.port());
    ASSERT_TRUE(c.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
    // The connection goes away with the server; whatever was written first
    // must be a whole response or nothing.
    auto r = c.read_response();
    if (r) {
        EXPECT_EQ(r->body, "bye");
    }
    EXPECT_TRUE(c.reads_eof());
    std::size_t open = 1;
    loop.call([&] { open = server.connection_count(); });
    EXPECT_EQ(open, 0u);
}

TEST(HttpServerListen, RejectsBadAddresses) {
    IoLoop loop;
    HttpServer server(loop, echo);
    for (const char* bad : {"nohost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", "::1:80",
                            "[::1", "[::1]80", "[nothex]:80", "256.1.1.1:80"}) {
        std::string error;
        EXPECT_FALSE(server.listen(bad, &error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
}

TEST(HttpServerListen, BindsBeforeTheLoopRunsAndServesAfterStart) {
    IoLoop loop;
    HttpServer server(loop, echo);
    std::string error;
    ASSERT_TRUE(server.listen("localhost:0", &error)) << error;
    std::string again;
    EXPECT_FALSE(server.listen("127.0.0.1:0", &again));
    EXPECT_NE(again.find("already"), std::string::npos);
    loop.start();
    Client c(server.port());
    auto r = c.request("GET /late HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "hello /late");
    server.close();
}

TEST(HttpServerListen, PortInUseIsAnError) {
    IoLoop loop;
    HttpServer first(loop, echo);
    std::string error;
    ASSERT_TRUE(first.listen("127.0.0.1:0", &error)) << error;
    HttpServer second(loop, echo);
    EXPECT_FALSE(second.listen("127.0.0.1:" + std::to_string(first.port()), &error));
    EXPECT_NE(error.find("bind"), std::string::npos) << error;
}

}  // namespace
}  // namespace sluice::net
