// The gateway API over a real socket: built-in endpoints, readiness hooks,
// registered routes and the bearer token on writes.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include "core/ioloop.hpp"
#include "core/metrics.hpp"
#include "http/api.hpp"
#include "net/http_parser.hpp"

namespace sluice::http {
namespace {

struct Reply {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (iequals(k, name)) {
                return v;
            }
        }
        return "<none>";
    }
};

// One request per connection ("Connection: close"), read to EOF: the
// simplest correct client. Blocking, with a receive timeout.
std::optional<Reply> fetch(std::uint16_t port, std::string_view method, std::string_view target,
                           std::string_view extra_headers = "", std::string_view body = "") {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return std::nullopt;
    }
    std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
    req += extra_headers;
    if (!body.empty()) {
        req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    req += "\r\n";
    req += body;
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        ::close(fd);
        return std::nullopt;
    }
    std::string raw;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            ::close(fd);
            return std::nullopt;  // timeout: the server never closed
        }
        if (n == 0) {
            break;
        }
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0) {
        return std::nullopt;
    }
    Reply r;
    r.status = std::stoi(raw.substr(9, 3));
    std::size_t pos = raw.find("\r\n");
    while (pos < end) {
        const std::size_t start = pos + 2;
        pos = raw.find("\r\n", start);
        const std::string line = raw.substr(start, pos - start);
        const auto colon = line.find(':');
        if (colon != std::string::npos) {
            r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
        }
    }
    r.body = raw.substr(end + 4);
    if (r.header("content-length") != std::to_string(r.body.size()) && method != "HEAD") {
        return std::nullopt;
    }
    return r;
}

class ApiTest : public ::testing::Test {
protected:
    void SetUp() override { loop_.start(); }
    void TearDown() override { api_.reset(); }

    void start(ApiHooks hooks = {}) {
        api_ = std::make_unique<Api>(loop_, std::move(hooks));
        std::string error;
        ASSERT_TRUE(api_->listen("127.0.0.1:0", &error)) << error;
    }

    std::optional<Reply> get(std::string_view target) { return fetch(api_->port(), "GET", target); }

    IoLoop loop_;
    std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, Health) {
    start();
    auto r = get("/health");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok\n");
    EXPECT_EQ(r->header("cache-control"), "no-store");
}

TEST_F(ApiTest, MetricsHasPrometheusContentTypeAndRegisteredCounters) {
    auto& counter = metrics().counter("sluice_api_test_requests_total", "A counter only this test uses");
    counter.inc(3);
    start();
    auto r = get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(r->body.find("# TYPE sluice_api_test_requests_total counter\n"), std::string::npos) << r->body;
    const std::string line = "\nsluice_api_test_requests_total " + std::to_string(counter.value()) + "\n";
    EXPECT_NE(r->body.find(line), std::string::npos) << r->body;
}

TEST_F(ApiTest, ReadyFollowsTheHook) {
    std::atomic<bool> healthy{true};
    ApiHooks hooks;
    hooks.ready = [&](std::string& detail) {
        detail = healthy ? R"({"sinks":{"stdout":"ok"}})" : R"({"sinks":{"kafka":"down"}})";
        return healthy.load();
    };
    start(hooks);
    auto up = get("/ready");
    ASSERT_TRUE(up);
    EXPECT_EQ(up->status, 200);
    EXPECT_EQ(up->header("content-type"), "application/json");
    EXPECT_EQ(up->body, R"({"sinks":{"stdout":"ok"}})");

    healthy = false;
    auto down = get("/ready");
    ASSERT_TRUE(down);
    EXPECT_EQ(down->status, 503);
    EXPECT_EQ(down->body, R"({"sinks":{"kafka":"down"}})");
}

TEST_F(ApiTest, ReadyWithoutHookIsNotReadyAndSetHooksSwitches) {
    start();
    auto before = get("/ready");
    ASSERT_TRUE(before);
    EXPECT_EQ(before->status, 503);

    ApiHooks hooks;
    hooks.ready = [](std::string& detail) {
        detail = "all sinks healthy";
        return true;
    };
    api_->set_hooks(hooks);
    auto after = get("/ready");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200);
    EXPECT_EQ(after->body, "all sinks healthy\n");
    EXPECT_EQ(after->header("content-type"), "text/plain; charset=utf-8");
}

TEST_F(ApiTest, ReadyHookThatThrowsIsNotReady) {
    ApiHooks hooks;
    hooks.ready = [](std::string&) -> bool { throw std::runtime_error("sink table gone"); };
    start(hooks);
    auto r = get("/ready");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_NE(r->body.find("sink table gone"), std::string::npos);
}

TEST_F(ApiTest, IndexListsEndpoints) {
    start();
    api_->add_route("GET", "/api/table", [](const net::HttpRequest&) { return net::HttpResponse{}; });
    auto r = get("/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    for (const char* p : {"/health", "/ready", "/metrics", "GET /api/table"}) {
        EXPECT_NE(r->body.find(p), std::string::npos) << p;
    }
}

TEST_F(ApiTest, UnknownPathIs404AndWrongMethodIs405) {
    start();
    auto nf = get("/nope");
    ASSERT_TRUE(nf);
    EXPECT_EQ(nf->status, 404);

    auto wrong = fetch(api_->port(), "POST", "/health", "", "x");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 405);
    EXPECT_EQ(wrong->header("allow"), "GET, HEAD, OPTIONS");

    auto head = fetch(api_->port(), "HEAD", "/health");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->header("content-length"), "3");
    EXPECT_TRUE(head->body.empty());
}

TEST_F(ApiTest, RoutesMatchByLongestPrefixOnSegmentBoundaries) {
    start();
    api_->add_route("GET", "/api/table", [](const net::HttpRequest& req) {
        return net::HttpResponse{200, "text/plain", {}, "table " + req.path};
    });
    api_->add_route("GET", "/api/table/special", [](const net::HttpRequest&) {
        return net::HttpResponse{200, "text/plain", {}, "special"};
    });
    auto a = get("/api/table");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->body, "table /api/table");
    auto b = get("/api/table/x?limit=3");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->body, "table /api/table/x");
    auto c = get("/api/table/special/1");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->body, "special");
    auto d = get("/api/tables");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->status, 404);

    auto head = fetch(api_->port(), "HEAD", "/api/table");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    auto del = fetch(api_->port(), "DELETE", "/api/table");
    ASSERT_TRUE(del);
    EXPECT_EQ(del->status, 405);
    EXPECT_EQ(del->header("allow"), "GET, HEAD");
}

TEST_F(ApiTest, WriteRoutesNeedTheBearerToken) {
    ApiHooks hooks;
    hooks.token = "s3cret-token";
    start(hooks);
    std::atomic<int> calls{0};
    api_->add_route("POST", "/api/reset", [&](const net::HttpRequest& req) {
        ++calls;
        return net::HttpResponse{200, "text/plain", {}, "reset " + req.body};
    });

    auto none = fetch(api_->port(), "POST", "/api/reset", "", "now");
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    EXPECT_EQ(none->header("www-authenticate"), "Bearer realm=\"sluice\"");

    auto wrong = fetch(api_->port(), "POST", "/api/reset", "Authorization: Bearer s3cret-tokeN\r\n", "now");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    EXPECT_NE(wrong->header("www-authenticate").find("invalid_token"), std::string::npos);
    EXPECT_EQ(wrong->body.find("s3cret"), std::string::npos);
    EXPECT_EQ(calls.load(), 0);

    auto right = fetch(api_->port(), "POST", "/api/reset", "Authorization: bearer   s3cret-token\r\n", "now");
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200);
    EXPECT_EQ(right->body, "reset now");
    EXPECT_EQ(calls.load(), 1);

    // A reload that removes the token closes writes again.
    api_->set_hooks(ApiHooks{});
    auto refused = fetch(api_->port(), "POST", "/api/reset", "Authorization: Bearer s3cret-token\r\n", "now");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 403);
    EXPECT_EQ(calls.load(), 1);
}

// Writes handed to the API's writer thread (Api::off_loop): the loop keeps
// serving while one blocks, and its answer comes back in order.
class Gate {
public:
    void open() {
        std::lock_guard lk(mu_);
        open_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return open_; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

TEST_F(ApiTest, OffLoopWorkBlocksNeitherTheLoopNorOtherClients) {
    ApiHooks hooks;
    hooks.token = "tok";
    start(hooks);
    Gate gate;
    std::promise<std::thread::id> ran_on;
    std::atomic<bool> on_loop{true};
    api_->add_route("PUT", "/api/slow", [&](const net::HttpRequest& req) {
        return api_->off_loop([&, body = req.body] {
            on_loop = IoLoop::on_a_loop_thread();
            gate.wait();  // a slow disk
            return net::HttpResponse{201, "text/plain", {}, "stored " + body};
        });
    });
    auto slow = std::async(std::launch::async, [&] {
        return fetch(api_->port(), "PUT", "/api/slow", "Authorization: Bearer tok\r\n", "x");
    });
    // While the write blocks, other requests are answered.
    for (int i = 0; i < 3; ++i) {
        auto h = get("/health");
        ASSERT_TRUE(h);
        EXPECT_EQ(h->status, 200);
    }
    EXPECT_EQ(slow.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
    gate.open();
    auto r = slow.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 201);
    EXPECT_EQ(r->body, "stored x");
    EXPECT_FALSE(on_loop.load());
}

TEST_F(ApiTest, PipelinedRequestsAfterADeferredOneAreAnsweredInOrder) {
    ApiHooks hooks;
    hooks.token = "tok";
    start(hooks);
    api_->add_route("POST", "/api/later", [&](const net::HttpRequest& req) {
        return api_->off_loop([body = req.body] { return net::HttpResponse{200, "text/plain", {}, "later " + body}; });
    });
    api_->add_route("POST", "/api/boom", [&](const net::HttpRequest&) {
        return api_->off_loop([]() -> net::HttpResponse { throw std::runtime_error("disk on fire"); });
    });
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(api_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string reqs =
        "POST /api/later HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\nContent-Length: 1\r\n\r\na"
        "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
        "POST /api/boom HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\nContent-Length: 0\r\n\r\n"
        "POST /api/later HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\nContent-Length: 1\r\n"
        "Connection: close\r\n\r\nb";
    ASSERT_EQ(::send(fd, reqs.data(), reqs.size(), MSG_NOSIGNAL), static_cast<ssize_t>(reqs.size()));
    std::string raw;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        ASSERT_GE(n, 0) << "the server never closed";
        if (n == 0) {
            break;
        }
        raw.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto a = raw.find("later a");
    const auto ok = raw.find("\r\n\r\nok\n");
    const auto boom = raw.find("HTTP/1.1 500");
    const auto b = raw.find("later b");
    ASSERT_NE(a, std::string::npos) << raw;
    ASSERT_NE(ok, std::string::npos) << raw;
    ASSERT_NE(boom, std::string::npos) << raw;
    ASSERT_NE(b, std::string::npos) << raw;
    EXPECT_LT(a, ok);
    EXPECT_LT(ok, boom);
    EXPECT_LT(boom, b);
    EXPECT_EQ(raw.find("disk on fire"), std::string::npos) << raw;
}

TEST_F(ApiTest, AClientThatHangsUpWhileItsWriteRunsDoesNotStopTheServer) {
    ApiHooks hooks;
    hooks.token = "tok";
    start(hooks);
    Gate gate;
    std::atomic<int> done{0};
    api_->add_route("DELETE", "/api/slow", [&](const net::HttpRequest&) {
        return api_->off_loop([&] {
            gate.wait();
            ++done;
            return net::HttpResponse{200, "text/plain", {}, "deleted"};
        });
    });
    {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(api_->port());
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        const std::string req = "DELETE /api/slow HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n";
        ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
        ::close(fd);
    }
    auto h = get("/health");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    gate.open();
    // The work still ran; its answer had nobody to go to. The next request
    // is served by the same writer thread after it.
    auto r = fetch(api_->port(), "DELETE", "/api/slow", "Authorization: Bearer tok\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "deleted");
    EXPECT_EQ(done.load(), 2);
}

TEST(CheckToken, ComparesBearerCredentials) {
    net::HttpRequest req;
    EXPECT_FALSE(check_token(req, "abc"));
    req.headers = {{"Authorization", "Bearer abc"}};
    EXPECT_TRUE(check_token(req, "abc"));
    EXPECT_FALSE(check_token(req, ""));
    EXPECT_FALSE(check_token(req, "abcd"));
    EXPECT_FALSE(check_token(req, "ab"));
    EXPECT_FALSE(check_token(req, "abd"));
    req.headers = {{"authorization", "BEARER abc"}};
    EXPECT_TRUE(check_token(req, "abc"));
    req.headers = {{"Authorization", "Basic abc"}};
    EXPECT_FALSE(check_token(req, "abc"));
    req.headers = {{"Authorization", "Bearerabc"}};
    EXPECT_FALSE(check_token(req, "abc"));
    req.headers = {{"Authorization", "Bearer "}};
    EXPECT_FALSE(check_token(req, "abc"));
}

TEST(RequireToken, ExplainsRefusals) {
    net::HttpRequest req;
    auto r = require_token(req, "");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403);
    r = require_token(req, "tok");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
    req.headers = {{"Authorization", "Bearer tok"}};
    EXPECT_FALSE(require_token(req, "tok"));
}

}  // namespace
}  // namespace sluice::http
