// The HTTP client against the real HttpServer on an IoLoop, and against small
// raw-socket servers (one thread each) for what HttpServer never does:
// chunked responses, closing mid-response, never answering. No sleeps: the
// client's own timeouts bound every wait.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "core/ioloop.hpp"
#include "net/http_client.hpp"
#include "net/http_response_parser.hpp"
#include "net/http_server.hpp"

namespace sluice::net {
namespace {

std::optional<std::string> gunzip(std::string_view data) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        return std::nullopt;
    }
    std::string out;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    char buf[4096];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        out.append(buf, sizeof buf - zs.avail_out);
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        return std::nullopt;
    }
    return out;
}

HttpResponse handler(const HttpRequest& req) {
    HttpResponse r;
    if (req.path == "/big") {
        r.body = std::string(std::stoul(req.query_param("n").value_or("100")), 'x');
        return r;
    }
    if (req.path == "/nocontent") {
        r.status = 204;
        return r;
    }
    if (req.path == "/gunzip") {
        const auto* enc = req.header("content-encoding");
        auto plain = gunzip(req.body);
        r.headers.emplace_back("X-Encoding", enc != nullptr ? *enc : "none");
        r.body = plain ? *plain : "not gzip";
        return r;
    }
    r.headers.emplace_back("X-Method", req.method);
    r.headers.emplace_back("X-Target", req.target);
    for (const char* h : {"host", "user-agent", "content-length", "authorization"}) {
        if (const auto* v = req.header(h)) {
            r.headers.emplace_back(std::string("X-Got-") + h, *v);
        }
    }
    r.body = req.method == "POST" ? req.body : "hello " + req.path;
    return r;
}

class HttpClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        loop_.start();
        server_ = std::make_unique<HttpServer>(loop_, handler);
        std::string error;
        ASSERT_TRUE(server_->listen("127.0.0.1:0", &error)) << error;
    }
    void TearDown() override {
        loop_.call([&] { server_.reset(); });
        loop_.stop();
    }

    HttpClientOptions opts() {
        HttpClientOptions o;
        o.host = "127.0.0.1";
        o.port = server_->port();
        o.read_timeout = std::chrono::milliseconds(10000);
        return o;
    }

    std::size_t connections() {
        std::size_t n = 0;
        loop_.call([&] { n = server_->connection_count(); });
        return n;
    }

    IoLoop loop_;
    std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpClientTest, GetSendsHostUserAgentAndReadsBody) {
    HttpClient c(opts());
    std::string error;
    auto r = c.request("GET", "/path?x=1", {}, {}, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello /path");
    ASSERT_NE(r->header("X-GOT-HOST"), nullptr);
    EXPECT_EQ(*r->header("x-got-host"), "127.0.0.1:" + std::to_string(server_->port()));
    EXPECT_EQ(*r->header("x-got-user-agent"), std::string("sluice/") + SLUICE_VERSION);
    EXPECT_EQ(*r->header("x-target"), "/path?x=1");
    EXPECT_EQ(r->header("x-got-content-length"), nullptr);
}

TEST_F(HttpClientTest, PostWithBodyAndHeaders) {
    HttpClient c(opts());
    std::string error;
    auto r = c.request("POST", "/_sql", {{"Authorization", basic_auth("crate", "pw")}}, R"({"stmt":"x"})", &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"stmt":"x"})");
    EXPECT_EQ(*r->header("x-got-content-length"), "12");
    EXPECT_EQ(*r->header("x-got-authorization"), "Basic Y3JhdGU6cHc=");
}

TEST_F(HttpClientTest, KeepAliveReusesOneConnection) {
    HttpClient c(opts());
    std::string error;
    for (int i = 0; i < 3; ++i) {
        auto r = c.request("GET", "/n" + std::to_string(i), {}, {}, &error);
        ASSERT_TRUE(r) << error;
        EXPECT_EQ(r->body, "hello /n" + std::to_string(i));
    }
    EXPECT_EQ(connections(), 1u);
}

TEST_F(HttpClientTest, ReconnectsAfterServerDroppedIdleConnection) {
    HttpClient c(opts());
    std::string error;
    ASSERT_TRUE(c.request("GET", "/a", {}, {}, &error)) << error;
    // Server restart: every connection is gone, the client does not know.
    const auto port = server_->port();
    loop_.call([&] { server_.reset(); });
    loop_.call([&] { server_ = std::make_unique<HttpServer>(loop_, handler); });
    ASSERT_TRUE(server_->listen("127.0.0.1:" + std::to_string(port), &error)) << error;
    auto r = c.request("GET", "/b", {}, {}, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->body, "hello /b");
}

TEST_F(HttpClientTest, HeadAndNoContentHaveNoBody) {
    HttpClient c(opts());
    std::string error;
    auto h = c.request("HEAD", "/big?n=5000", {}, {}, &error);
    ASSERT_TRUE(h) << error;
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(*h->header("content-length"), "5000");
    EXPECT_TRUE(h->body.empty());
    auto n = c.request("GET", "/nocontent", {}, {}, &error);
    ASSERT_TRUE(n) << error;
    EXPECT_EQ(n->status, 204);
    // The connection is still in step after both.
    auto g = c.request("GET", "/big?n=70000", {}, {}, &error);
    ASSERT_TRUE(g) << error;
    EXPECT_EQ(g->body.size(), 70000u);
    EXPECT_EQ(connections(), 1u);
}

TEST_F(HttpClientTest, GzipBodiesRoundTrip) {
    auto o = opts();
    o.gzip_requests = true;
    HttpClient c(o);
    std::string body;
    for (int i = 0; i < 200; ++i) {
        body += "temperature,room=" + std::to_string(i) + " value=21.5\n";
    }
    std::string error;
    auto r = c.request("POST", "/gunzip", {}, body, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(*r->header("x-encoding"), "gzip");
    EXPECT_EQ(r->body, body);
    // Small bodies are not worth it.
    auto s = c.request("POST", "/gunzip", {}, "short", &error);
    ASSERT_TRUE(s) << error;
    EXPECT_EQ(*s->header("x-encoding"), "none");
}

TEST_F(HttpClientTest, StatusErrorsAreResponses) {
    HttpClient c(opts());
    std::string error;
    auto r = c.request("GET", "/big?n=notanumber", {}, {}, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, 500);
}

TEST_F(HttpClientTest, RejectsHeaderInjection) {
    HttpClient c(opts());
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {{"X-A", "b\r\nX-Evil: 1"}}, {}, &error));
    EXPECT_NE(error.find("invalid request header"), std::string::npos) << error;
    EXPECT_FALSE(c.request("GET", "/ HTTP/1.1\r\n", {}, {}, &error));
}

TEST(HttpClientConnect, RefusedIsAClearError) {
    // A port that was free a moment ago: nobody listens there.
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(s);
    HttpClientOptions o;
    o.host = "127.0.0.1";
    o.port = ntohs(addr.sin_port);
    HttpClient c(o);
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("connect to 127.0.0.1:"), std::string::npos) << error;
    EXPECT_NE(error.find("refused"), std::string::npos) << error;
}

TEST(HttpClientConnect, UnresolvableHost) {
    HttpClientOptions o;
    o.host = "no-such-host.invalid";
    HttpClient c(o);
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("cannot resolve no-such-host.invalid"), std::string::npos) << error;
}

// ------------------------------------------------------------ raw servers

// Accepts connections on 127.0.0.1:0 and runs `script(fd, n)` for the n-th
// one on the server thread.
class RawServer {
public:
    using Script = std::function<void(int fd, int n)>;
    explicit RawServer(Script script) : script_(std::move(script)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(fd_, 8);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~RawServer() {
        ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    int accepted() const { return accepted_.load(); }

    // Reads one request head (and a Content-Length body); false on EOF.
    static bool read_request(int fd, std::string& buf) {
        for (;;) {
            const auto end = buf.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::size_t body = 0;
                const auto cl = buf.find("Content-Length: ");
                if (cl != std::string::npos && cl < end) {
                    body = std::stoul(buf.substr(cl + 16));
                }
                if (buf.size() >= end + 4 + body) {
                    buf.erase(0, end + 4 + body);
                    return true;
                }
            }
            char tmp[4096];
            const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
            if (n <= 0) {
                return false;
            }
            buf.append(tmp, static_cast<std::size_t>(n));
        }
    }
    static void send_all(int fd, std::string_view s) {
        while (!s.empty()) {
            const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return;
            }
            s.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    // Blocks until the client closes.
    static void drain(int fd) {
        char tmp[4096];
        while (::recv(fd, tmp, sizeof tmp, 0) > 0) {
        }
    }

private:
    void run() {
        for (;;) {
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                return;
            }
            const int n = accepted_.fetch_add(1);
            script_(c, n);
            ::close(c);
        }
    }

    Script script_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<int> accepted_{0};
    std::thread thread_;
};

HttpClientOptions raw_opts(const RawServer& s, int read_timeout_ms = 10000) {
    HttpClientOptions o;
    o.host = "127.0.0.1";
    o.port = s.port();
    o.read_timeout = std::chrono::milliseconds(read_timeout_ms);
    return o;
}

TEST(HttpClientRaw, ChunkedResponse) {
    RawServer server([](int fd, int) {
        std::string buf;
        while (RawServer::read_request(fd, buf)) {
            RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            RawServer::send_all(fd, "5\r\nhello\r\n");
            RawServer::send_all(fd, "7;ext=1\r\n, world\r\n");
            RawServer::send_all(fd, "0\r\nX-Trailer: t\r\n\r\n");
        }
    });
    HttpClient c(raw_opts(server));
    std::string error;
    for (int i = 0; i < 2; ++i) {
        auto r = c.request("GET", "/", {}, {}, &error);
        ASSERT_TRUE(r) << error;
        EXPECT_EQ(r->body, "hello, world");
    }
    EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClientRaw, ReadToCloseResponse) {
    RawServer server([](int fd, int) {
        std::string buf;
        RawServer::read_request(fd, buf);
        RawServer::send_all(fd, "HTTP/1.0 200 OK\r\n\r\nall of it");
    });
    HttpClient c(raw_opts(server));
    std::string error;
    auto r = c.request("GET", "/", {}, {}, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->body, "all of it");
    // The next request needs a new connection, which the client makes.
    auto r2 = c.request("GET", "/", {}, {}, &error);
    ASSERT_TRUE(r2) << error;
    EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClientRaw, ReconnectsOnceWhenKeptAliveConnectionWasClosed) {
    // Answers one request per connection but claims keep-alive, then closes
    // as soon as the next request arrives, before any response byte.
    RawServer server([](int fd, int) {
        std::string buf;
        if (RawServer::read_request(fd, buf)) {
            RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        RawServer::read_request(fd, buf);
    });
    HttpClient c(raw_opts(server));
    std::string error;
    for (int i = 0; i < 3; ++i) {
        auto r = c.request("POST", "/", {}, "x", &error);
        ASSERT_TRUE(r) << i << ": " << error;
        EXPECT_EQ(r->body, "ok");
    }
    EXPECT_EQ(server.accepted(), 3);
}

TEST(HttpClientRaw, ServerClosingMidResponseIsAnError) {
    RawServer server([](int fd, int) {
        std::string buf;
        RawServer::read_request(fd, buf);
        RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
    });
    HttpClient c(raw_opts(server));
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("closed before the response was complete"), std::string::npos) << error;
    EXPECT_EQ(server.accepted(), 1);  // no retry once response bytes came
}

TEST(HttpClientRaw, ReadTimeout) {
    RawServer server([](int fd, int) { RawServer::drain(fd); });
    HttpClient c(raw_opts(server, 200));
    std::string error;
    EXPECT_FALSE(c.request("POST", "/", {}, "data", &error));
    EXPECT_NE(error.find("no response from 127.0.0.1:"), std::string::npos) << error;
    EXPECT_NE(error.find("within 200 ms (read_timeout)"), std::string::npos) << error;
    EXPECT_EQ(server.accepted(), 1);  // a timeout is not retried: the request may have been processed
}

TEST(HttpClientRaw, GarbageResponse) {
    RawServer server([](int fd, int) {
        std::string buf;
        RawServer::read_request(fd, buf);
        RawServer::send_all(fd, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
    });
    HttpClient c(raw_opts(server));
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("invalid response from 127.0.0.1:"), std::string::npos) << error;
    EXPECT_NE(error.find("malformed status line"), std::string::npos) << error;
}

TEST(HttpClientRaw, ResponseSizeLimit) {
    RawServer server([](int fd, int) {
        std::string buf;
        RawServer::read_request(fd, buf);
        RawServer::send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n");
    });
    auto o = raw_opts(server);
    o.max_response_bytes = 1000;
    HttpClient c(o);
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("over the limit"), std::string::npos) << error;
}

// ------------------------------------------------------------ parser

HttpClientResponse parse_whole(std::string_view wire, bool head = false, bool bytewise = false) {
    HttpResponseParser p;
    p.begin(head);
    ResponseParseStatus st = ResponseParseStatus::NeedMore;
    if (bytewise) {
        for (const char ch : wire) {
            st = p.feed(std::string_view(&ch, 1));
        }
    } else {
        st = p.feed(wire);
    }
    if (st == ResponseParseStatus::NeedMore) {
        st = p.finish();
    }
    EXPECT_EQ(st, ResponseParseStatus::Complete) << p.error();
    return p.take();
}

TEST(HttpResponseParser, ChunkedBytewiseMatchesWhole) {
    const std::string wire =
        "HTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, chunked\r\nX-A:  b \r\n\r\n"
        "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
    for (const bool bytewise : {false, true}) {
        auto r = parse_whole(wire, false, bytewise);
        EXPECT_EQ(r.status, 201);
        EXPECT_EQ(r.body, "abc0123456789");
        EXPECT_EQ(*r.header("x-a"), "b");
    }
}

TEST(HttpResponseParser, SkipsContinueAndKeepsAliveRules) {
    HttpResponseParser p;
    p.begin(false);
    EXPECT_EQ(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
              ResponseParseStatus::Complete);
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(p.take().body, "ok");

    p.begin(false);
    EXPECT_EQ(p.feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), ResponseParseStatus::Complete);
    EXPECT_FALSE(p.keep_alive());
    p.begin(false);
    EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
              ResponseParseStatus::Complete);
    EXPECT_FALSE(p.keep_alive());
    p.begin(false);
    EXPECT_EQ(p.feed("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), ResponseParseStatus::Complete);
    EXPECT_TRUE(p.keep_alive());
}

TEST(HttpResponseParser, Errors) {
    for (const char* wire : {
             "HTTP/1.1 2000 OK\r\n\r\n",
             "HTTP/2.0 200 OK\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
             "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
             "HTTP/1.1 101 Switching Protocols\r\n\r\n",
         }) {
        HttpResponseParser p;
        p.begin(false);
        EXPECT_EQ(p.feed(wire), ResponseParseStatus::Error) << wire;
        EXPECT_FALSE(p.error().empty());
    }
    HttpResponseParser p;
    p.begin(false);
    EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"), ResponseParseStatus::NeedMore);
    EXPECT_EQ(p.finish(), ResponseParseStatus::Error);
}

TEST(Base64, Vectors) {
    EXPECT_EQ(base64_encode(""), "");
    EXPECT_EQ(base64_encode("f"), "Zg==");
    EXPECT_EQ(base64_encode("fo"), "Zm8=");
    EXPECT_EQ(base64_encode("foo"), "Zm9v");
    EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(basic_auth("Aladdin", "open sesame"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

}  // namespace
}  // namespace sluice::net

// ------------------------------------------------------------ TLS
//
// Certificates come from the openssl command line tool; the TLS servers are
// one python3 process (ssl + http.server), one listener per certificate, so
// the tests use the same kind of peer a real deployment would.

namespace sluice::net {
namespace {

constexpr const char* kServerScript = R"PY(
import http.server, ssl, sys, threading

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = 0
    lock = threading.Lock()
    def setup(self):
        super().setup()
        with Handler.lock:
            Handler.counter += 1
            self.conn_id = Handler.counter
    def do_GET(self):
        body = ("conn %d" % self.conn_id).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

ports = []
for spec in sys.argv[1:]:
    cert, key, client_ca = (spec.split(",") + [""])[:3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ports.append(str(srv.server_address[1]))
print(" ".join(ports), flush=True)
sys.stdin.read()
)PY";

bool sh(const std::string& cmd) {
    return std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
}

std::string read_file(const std::string& path) {
    std::string out;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
            out.append(buf, n);
        }
        std::fclose(f);
    }
    return out;
}

void write_file(const std::string& path, const std::string& data) {
    // Replace atomically, as configuration management does.
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
    ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

class TlsTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        char tmpl[] = "/tmp/sluice-http-client-tls-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) {
            return;
        }
        dir_ = tmpl;
        const std::string d = dir_;
        const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        auto ca = [&](const std::string& name) {
            return sh("cd " + d + " && openssl req -x509 " + ec + " -keyout " + name + ".key -out " + name +
                      ".crt -days 3650 -subj '/CN=sluice test " + name + "'");
        };
        auto leaf = [&](const std::string& name, const std::string& cn, const std::string& san,
                        const std::string& days, const std::string& usage) {
            return sh("cd " + d + " && openssl req " + ec + " -keyout " + name + ".key -out " + name +
                      ".csr -subj '/CN=" + cn + "' && printf 'subjectAltName=" + san + "\\nextendedKeyUsage=" +
                      usage + "\\n' > " + name + ".ext && openssl x509 -req -in " + name +
                      ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -out " + name + ".crt -days " + days +
                      " -extfile " + name + ".ext");
        };
        ok_ = ca("ca") && ca("otherca") &&
              leaf("server", "localhost", "IP:127.0.0.1,DNS:localhost", "30", "serverAuth") &&
              leaf("expired", "localhost", "IP:127.0.0.1,DNS:localhost", "-1", "serverAuth") &&
              leaf("client", "sluice-client", "DNS:sluice-client", "30", "clientAuth") &&
              // Legacy PEM encryption: mbedTLS 2.28 cannot read OpenSSL 3's default
              // PKCS#8 (PBES2 with AES).
              sh("cd " + d + " && openssl ec -in client.key -aes128 -out client-enc.key -passout pass:s3cret");
        if (!ok_) {
            return;
        }
        std::FILE* f = std::fopen((d + "/server.py").c_str(), "w");
        std::fputs(kServerScript, f);
        std::fclose(f);

        int out[2];
        int in[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
            ok_ = false;
            return;
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            ::dup2(in[0], 0);
            ::dup2(out[1], 1);
            const std::string s1 = d + "/server.crt," + d + "/server.key";
            const std::string s2 = d + "/expired.crt," + d + "/expired.key";
            const std::string s3 = d + "/server.crt," + d + "/server.key," + d + "/ca.crt";
            const std::string script = d + "/server.py";
            ::execlp("python3", "python3", script.c_str(), s1.c_str(), s2.c_str(), s3.c_str(), nullptr);
            ::_exit(127);
        }
        ::close(out[1]);
        ::close(in[0]);
        stdin_fd_ = in[1];  // closing it stops the server (it reads stdin to EOF)
        std::string line;
        pollfd p{out[0], POLLIN, 0};
        while (line.find('\n') == std::string::npos && ::poll(&p, 1, 30000) > 0) {
            char buf[256];
            const ssize_t n = ::read(out[0], buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            line.append(buf, static_cast<std::size_t>(n));
        }
        ::close(out[0]);
        ok_ = std::sscanf(line.c_str(), "%d %d %d", &port_, &expired_port_, &mtls_port_) == 3;
    }

    static void TearDownTestSuite() {
        if (stdin_fd_ >= 0) {
            ::close(stdin_fd_);
            stdin_fd_ = -1;
        }
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
        }
        if (!dir_.empty()) {
            sh("rm -rf " + dir_);
        }
    }

    void SetUp() override {
        if (!ok_) {
            GTEST_SKIP() << "openssl or python3 not usable here";
        }
    }

    static HttpClientOptions opts(int port, const std::string& ca = "ca.crt") {
        HttpClientOptions o;
        o.host = "127.0.0.1";
        o.port = port;
        o.read_timeout = std::chrono::milliseconds(20000);
        o.tls.enabled = true;
        o.tls.ca_file = dir_ + "/" + ca;
        return o;
    }

    static inline std::string dir_;
    static inline bool ok_ = false;
    static inline pid_t pid_ = -1;
    static inline int stdin_fd_ = -1;
    static inline int port_ = 0;
    static inline int expired_port_ = 0;
    static inline int mtls_port_ = 0;
};

TEST_F(TlsTest, RightCaWorksAndConnectionIsKeptAlive) {
    HttpClient c(opts(port_));
    std::string error;
    auto a = c.request("GET", "/", {}, {}, &error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->status, 200);
    auto b = c.request("GET", "/", {}, {}, &error);
    ASSERT_TRUE(b) << error;
    EXPECT_EQ(a->body, b->body);  // same server-side connection id
}

TEST_F(TlsTest, HostNameLocalhostMatchesDnsSan) {
    auto o = opts(port_);
    o.host = "localhost";
    HttpClient c(o);
    std::string error;
    ASSERT_TRUE(c.request("GET", "/", {}, {}, &error)) << error;
}

TEST_F(TlsTest, WrongCaFailsClearly) {
    HttpClient c(opts(port_, "otherca.crt"));
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("TLS handshake with 127.0.0.1:" + std::to_string(port_) +
                         " failed: certificate not trusted (check ca_file)"),
              std::string::npos)
        << error;
}

TEST_F(TlsTest, WrongHostNameFailsClearly) {
    auto o = opts(port_);
    o.tls.server_name = "other.example";
    HttpClient c(o);
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("certificate is for localhost, not other.example (check the host name or server_name)"),
              std::string::npos)
        << error;
    // verify_hostname = false accepts it (the chain is still checked).
    o.tls.verify_hostname = false;
    HttpClient lax(o);
    EXPECT_TRUE(lax.request("GET", "/", {}, {}, &error)) << error;
}

TEST_F(TlsTest, ExpiredFailsClearly) {
    HttpClient c(opts(expired_port_));
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("failed: certificate expired"), std::string::npos) << error;
}

TEST_F(TlsTest, VerifyFalseAcceptsAnything) {
    auto o = opts(expired_port_, "otherca.crt");
    o.tls.verify = false;
    HttpClient c(o);
    std::string error;
    EXPECT_TRUE(c.request("GET", "/", {}, {}, &error)) << error;
}

TEST_F(TlsTest, ReplacedCaFileIsPickedUpWithoutNewClient) {
    const std::string path = dir_ + "/current-ca.crt";
    write_file(path, read_file(dir_ + "/otherca.crt"));
    auto o = opts(port_);
    o.tls.ca_file = path;
    HttpClient c(o);
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("certificate not trusted"), std::string::npos) << error;
    write_file(path, read_file(dir_ + "/ca.crt"));
    auto r = c.request("GET", "/", {}, {}, &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, 200);
}

TEST_F(TlsTest, ClientCertificate) {
    std::string error;
    {
        HttpClient c(opts(mtls_port_));
        EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
        EXPECT_FALSE(error.empty());
    }
    {
        auto o = opts(mtls_port_);
        o.tls.cert_file = dir_ + "/client.crt";
        o.tls.key_file = dir_ + "/client.key";
        HttpClient c(o);
        auto r = c.request("GET", "/", {}, {}, &error);
        ASSERT_TRUE(r) << error;
        EXPECT_EQ(r->status, 200);
    }
    {
        auto o = opts(mtls_port_);
        o.tls.cert_file = dir_ + "/client.crt";
        o.tls.key_file = dir_ + "/client-enc.key";
        o.tls.key_password = "s3cret";
        HttpClient c(o);
        auto r = c.request("GET", "/", {}, {}, &error);
        ASSERT_TRUE(r) << error;
        o.tls.key_password = "wrong";
        HttpClient bad(o);
        EXPECT_FALSE(bad.request("GET", "/", {}, {}, &error));
        EXPECT_NE(error.find("cannot load client key"), std::string::npos) << error;
        EXPECT_EQ(error.find("wrong"), std::string::npos) << error;  // never the password itself
    }
}

TEST_F(TlsTest, MissingCaFileIsAClearError) {
    HttpClient c(opts(port_, "does-not-exist.crt"));
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_NE(error.find("cannot load CA file"), std::string::npos) << error;
}

TEST_F(TlsTest, PlainClientAgainstTlsServerTimesOutOrFails) {
    auto o = opts(port_);
    o.tls.enabled = false;
    o.read_timeout = std::chrono::milliseconds(300);
    HttpClient c(o);
    std::string error;
    EXPECT_FALSE(c.request("GET", "/", {}, {}, &error));
    EXPECT_FALSE(error.empty());
}

TEST(RetryAfter, SecondsOrAnImfDateBoundedToADay) {
    using std::chrono::seconds;
    constexpr std::int64_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
    EXPECT_EQ(parse_retry_after("120", now), seconds(120));
    EXPECT_EQ(parse_retry_after(" 0 ", now), seconds(0));
    EXPECT_EQ(parse_retry_after("99999999999999999999999", now), seconds(86400));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), seconds(120));
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), seconds(0));  // past: no wait
    EXPECT_EQ(parse_retry_after("Tue, 01 Jan 2030 00:00:00 GMT", now), seconds(86400));
    for (const char* bad : {"", "soon", "12s", "-5", "1.5", "Sun, 06 Nov 1994 08:51:37 UTC",
                            "Sun, 06 Xyz 1994 08:51:37 GMT", "Sun, 32 Nov 1994 08:51:37 GMT",
                            "Sunday, 06-Nov-94 08:49:37 GMT"}) {
        EXPECT_FALSE(parse_retry_after(bad, now)) << bad;
    }
    HttpClientResponse r;
    r.status = 429;
    EXPECT_FALSE(retry_after(r, now));
    r.headers.emplace_back("retry-after", "7");
    EXPECT_EQ(retry_after(r, now), seconds(7));
}

}  // namespace
}  // namespace sluice::net
