#include "net/http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/log.hpp"
#include "core/tls_options.hpp"
#include "net/http_parser.hpp"
#include "net/http_response_parser.hpp"
#include "net/tls_certs.hpp"

namespace sluice::net {
namespace {

constexpr std::size_t kGzipThreshold = 1024;

using Clock = std::chrono::steady_clock;
using tls_detail::cert_has_ip_san;
using tls_detail::cert_names;
using tls_detail::FileStamp;
using tls_detail::is_ip_literal;
using tls_detail::stamp_of;

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string mbed_error(int rc) {
    char buf[256];
    mbedtls_strerror(rc, buf, sizeof buf);
    return buf;
}

// poll() for one event with a deadline; 1 ready, 0 timed out, -1 error.
int wait_fd(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) {
            return 0;
        }
        pollfd p{fd, events, 0};
        const int rc = ::poll(&p, 1, static_cast<int>(left));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc < 0) {
            return -1;
        }
        return rc > 0 ? 1 : 0;
    }
}

bool has_crlf(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

std::optional<std::string> gzip_compress(std::string_view data) {
    z_stream zs{};
    // 15 + 16: a gzip header and trailer rather than zlib's.
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return std::nullopt;
    }
    std::string out;
    out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    const std::size_t n = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        return std::nullopt;
    }
    out.resize(n);
    return out;
}

}  // namespace

struct HttpClient::Impl {
    explicit Impl(HttpClientOptions o) : opts(std::move(o)), parser(limits_from(opts)) {
        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&drbg);
        mbedtls_ssl_init(&ssl);
        init_config_objects();
        if (opts.tls.server_name.empty()) {
            opts.tls.server_name = opts.host;
        }
    }
    ~Impl() {
        close_connection();
        mbedtls_ssl_free(&ssl);
        free_config_objects();
        mbedtls_ctr_drbg_free(&drbg);
        mbedtls_entropy_free(&entropy);
    }

    static HttpResponseLimits limits_from(const HttpClientOptions& o) {
        HttpResponseLimits l;
        l.max_body_bytes = o.max_response_bytes;
        return l;
    }

    std::string where() const { return opts.host + ":" + std::to_string(opts.port); }

    // ------------------------------------------------------------ TLS config

    void init_config_objects() {
        mbedtls_ssl_config_init(&conf);
        mbedtls_x509_crt_init(&ca);
        mbedtls_x509_crt_init(&own_cert);
        mbedtls_pk_init(&own_key);
    }
    void free_config_objects() {
        mbedtls_ssl_config_free(&conf);
        mbedtls_x509_crt_free(&ca);
        mbedtls_x509_crt_free(&own_cert);
        mbedtls_pk_free(&own_key);
    }

    std::vector<FileStamp> current_stamps() const {
        const auto& t = opts.tls;
        const std::string ca_file = t.ca_file.empty() && t.ca_path.empty() ? kSystemCaBundle : t.ca_file;
        // A directory's own stamp changes when files are added, removed or
        // renamed into it, which is how CA directories are updated.
        return {stamp_of(ca_file), stamp_of(t.ca_path), stamp_of(t.cert_file), stamp_of(t.key_file)};
    }

    static int verify_cb(void* ctx, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
        auto* self = static_cast<Impl*>(ctx);
        if (depth != 0) {
            return 0;
        }
        self->peer_names = cert_names(*crt);
        if ((*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0 && self->opts.tls.verify_hostname) {
            unsigned char ip[16];
            std::size_t ip_len = 0;
            if (is_ip_literal(self->opts.tls.server_name, ip, ip_len) && cert_has_ip_san(*crt, ip, ip_len)) {
                *flags &= ~static_cast<std::uint32_t>(MBEDTLS_X509_BADCERT_CN_MISMATCH);
            }
        }
        if (!self->opts.tls.verify_hostname) {
            *flags &= ~static_cast<std::uint32_t>(MBEDTLS_X509_BADCERT_CN_MISMATCH);
        }
        return 0;
    }

    bool ensure_tls_config(std::string* error) {
        if (!drbg_seeded) {
            static const char pers[] = "sluice-http-client";
            const int rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                                 reinterpret_cast<const unsigned char*>(pers), sizeof pers - 1);
            if (rc != 0) {
                *error = "TLS setup failed: cannot seed the random generator: " + mbed_error(rc);
                return false;
            }
            drbg_seeded = true;
        }
        auto stamps = current_stamps();
        if (conf_ready && stamps == conf_stamps) {
            return true;
        }
        if (conf_ready) {
            log::info("http client {}: certificate files changed, reloading them", where());
        }
        conf_ready = false;
        // The ssl context points at the old config: reset it before freeing.
        mbedtls_ssl_free(&ssl);
        mbedtls_ssl_init(&ssl);
        free_config_objects();
        init_config_objects();

        const auto& t = opts.tls;
        if (t.verify) {
            bool any = false;
            const std::string ca_file = t.ca_file.empty() && t.ca_path.empty() ? kSystemCaBundle : t.ca_file;
            if (!ca_file.empty()) {
                const int rc = mbedtls_x509_crt_parse_file(&ca, ca_file.c_str());
                // A positive result counts certificates that did not parse;
                // system bundles can hold a few that mbedTLS does not support.
                if (rc < 0) {
                    *error = "TLS setup failed: cannot load CA file " + ca_file + ": " + mbed_error(rc);
                    return false;
                }
                any = true;
            }
            if (!t.ca_path.empty()) {
                const int rc = mbedtls_x509_crt_parse_path(&ca, t.ca_path.c_str());
                if (rc < 0) {
                    *error = "TLS setup failed: cannot load CA directory " + t.ca_path + ": " + mbed_error(rc);
                    return false;
                }
                any = true;
            }
            if (!any || ca.version == 0) {
                *error = "TLS setup failed: no usable CA certificate (check ca_file / ca_path)";
                return false;
            }
        }
        if (!t.cert_file.empty() || !t.key_file.empty()) {
            if (t.cert_file.empty() || t.key_file.empty()) {
                *error = "TLS setup failed: a client certificate needs both cert_file and key_file";
                return false;
            }
            int rc = mbedtls_x509_crt_parse_file(&own_cert, t.cert_file.c_str());
            if (rc != 0) {
                *error = "TLS setup failed: cannot load client certificate " + t.cert_file + ": " + mbed_error(rc);
                return false;
            }
            rc = mbedtls_pk_parse_keyfile(&own_key, t.key_file.c_str(),
                                          t.key_password.empty() ? nullptr : t.key_password.c_str());
            if (rc != 0) {
                // The password itself is never part of the message.
                *error = "TLS setup failed: cannot load client key " + t.key_file + ": " + mbed_error(rc) +
                         (t.key_password.empty() ? "" : " (check key_password)");
                return false;
            }
        }

        int rc = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                             MBEDTLS_SSL_PRESET_DEFAULT);
        if (rc != 0) {
            *error = "TLS setup failed: " + mbed_error(rc);
            return false;
        }
        mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
        mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
        mbedtls_ssl_conf_read_timeout(&conf, static_cast<std::uint32_t>(opts.read_timeout.count()));
        if (t.verify) {
            mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
            mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
            mbedtls_ssl_conf_verify(&conf, verify_cb, this);
        } else {
            mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
        }
        if (!t.cert_file.empty()) {
            rc = mbedtls_ssl_conf_own_cert(&conf, &own_cert, &own_key);
            if (rc != 0) {
                *error = "TLS setup failed: client certificate and key do not fit: " + mbed_error(rc);
                return false;
            }
        }
        conf_stamps = std::move(stamps);
        conf_ready = true;
        return true;
    }

    std::string describe_verify_failure(std::uint32_t flags) const {
        std::string out;
        auto add = [&](const std::string& s) {
            if (!out.empty()) {
                out += "; ";
            }
            out += s;
        };
        if ((flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) != 0) {
            add("certificate not trusted (check ca_file)");
        }
        if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) != 0) {
            add("certificate is for " + peer_names + ", not " + opts.tls.server_name +
                " (check the host name or server_name)");
        }
        if ((flags & MBEDTLS_X509_BADCERT_EXPIRED) != 0) {
            add("certificate expired");
        }
        if ((flags & MBEDTLS_X509_BADCERT_FUTURE) != 0) {
            add("certificate not valid yet (check the clock)");
        }
        if ((flags & MBEDTLS_X509_BADCERT_REVOKED) != 0) {
            add("certificate revoked");
        }
        const std::uint32_t known = MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_CN_MISMATCH |
                                    MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                                    MBEDTLS_X509_BADCERT_REVOKED;
        if ((flags & ~known) != 0 || out.empty()) {
            char buf[512];
            const int n = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags & ~known);
            std::string info = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "verification failed";
            while (!info.empty() && (info.back() == '\n' || info.back() == ' ')) {
                info.pop_back();
            }
            for (auto& c : info) {
                if (c == '\n') {
                    c = ';';
                }
            }
            add(info);
        }
        return out;
    }

    // ------------------------------------------------------------ socket I/O

    static int bio_send(void* ctx, const unsigned char* buf, std::size_t len) {
        auto* self = static_cast<Impl*>(ctx);
        const long n = self->raw_send(reinterpret_cast<const char*>(buf), len);
        if (n < 0) {
            return n == -2 ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_SEND_FAILED;
        }
        return static_cast<int>(n);
    }
    static int bio_recv_timeout(void* ctx, unsigned char* buf, std::size_t len, std::uint32_t timeout_ms) {
        auto* self = static_cast<Impl*>(ctx);
        const auto timeout = timeout_ms == 0 ? self->opts.read_timeout : std::chrono::milliseconds(timeout_ms);
        const long n = self->raw_recv(reinterpret_cast<char*>(buf), len, timeout);
        if (n == -2) {
            return MBEDTLS_ERR_SSL_TIMEOUT;
        }
        if (n < 0) {
            return MBEDTLS_ERR_NET_RECV_FAILED;
        }
        return static_cast<int>(n);  // 0: EOF
    }

    // Bytes sent, -1 error (last_errno), -2 timeout.
    long raw_send(const char* data, std::size_t len) {
        const auto deadline = Clock::now() + opts.read_timeout;
        for (;;) {
            const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
            if (n >= 0) {
                return static_cast<long>(n);
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                last_errno = errno;
                return -1;
            }
            const int w = wait_fd(fd, POLLOUT, deadline);
            if (w == 0) {
                timed_out = true;
                return -2;
            }
            if (w < 0) {
                last_errno = errno;
                return -1;
            }
        }
    }

    // Bytes read (0: EOF), -1 error (last_errno), -2 timeout.
    long raw_recv(char* buf, std::size_t len, std::chrono::milliseconds timeout) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const ssize_t n = ::recv(fd, buf, len, 0);
            if (n >= 0) {
                return static_cast<long>(n);
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                last_errno = errno;
                return -1;
            }
            const int w = wait_fd(fd, POLLIN, deadline);
            if (w == 0) {
                timed_out = true;
                return -2;
            }
            if (w < 0) {
                last_errno = errno;
                return -1;
            }
        }
    }

    bool connect_socket(std::string* error) {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_ADDRCONFIG;
        addrinfo* res = nullptr;
        const std::string port = std::to_string(opts.port);
        const int gai = ::getaddrinfo(opts.host.c_str(), port.c_str(), &hints, &res);
        if (gai != 0) {
            *error = "cannot resolve " + opts.host + ": " + ::gai_strerror(gai);
            return false;
        }
        std::string last = "no address";
        for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
            const int s = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
            if (s < 0) {
                last = errno_text(errno);
                continue;
            }
            int rc = ::connect(s, ai->ai_addr, ai->ai_addrlen);
            if (rc != 0 && errno == EINPROGRESS) {
                const int w = wait_fd(s, POLLOUT, Clock::now() + opts.connect_timeout);
                if (w == 0) {
                    ::close(s);
                    last = "timed out after " + std::to_string(opts.connect_timeout.count()) + " ms (connect_timeout)";
                    continue;
                }
                int err = 0;
                socklen_t elen = sizeof err;
                ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen);
                if (w < 0 || err != 0) {
                    last = errno_text(w < 0 ? errno : err);
                    ::close(s);
                    continue;
                }
                rc = 0;
            }
            if (rc != 0) {
                last = errno_text(errno);
                ::close(s);
                continue;
            }
            const int one = 1;
            ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            fd = s;
            ::freeaddrinfo(res);
            return true;
        }
        ::freeaddrinfo(res);
        *error = "connect to " + where() + " failed: " + last;
        return false;
    }

    bool connect(std::string* error) {
        close_connection();
        if (opts.tls.enabled && !ensure_tls_config(error)) {
            return false;
        }
        if (!connect_socket(error)) {
            return false;
        }
        if (opts.tls.enabled) {
            mbedtls_ssl_free(&ssl);
            mbedtls_ssl_init(&ssl);
            int rc = mbedtls_ssl_setup(&ssl, &conf);
            if (rc == 0) {
                rc = mbedtls_ssl_set_hostname(&ssl, opts.tls.server_name.c_str());
            }
            if (rc != 0) {
                *error = "TLS setup for " + where() + " failed: " + mbed_error(rc);
                close_connection();
                return false;
            }
            mbedtls_ssl_set_bio(&ssl, this, bio_send, nullptr, bio_recv_timeout);
            peer_names.clear();
            timed_out = false;
            do {
                rc = mbedtls_ssl_handshake(&ssl);
            } while (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
            if (rc != 0) {
                std::string why;
                const std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
                if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != static_cast<std::uint32_t>(-1)) {
                    why = describe_verify_failure(flags);
                } else if (timed_out) {
                    why = "no answer within " + std::to_string(opts.read_timeout.count()) + " ms (read_timeout)";
                } else {
                    why = mbed_error(rc);
                }
                *error = "TLS handshake with " + where() + " failed: " + why;
                close_connection();
                return false;
            }
            tls_active = true;
        }
        fresh = true;
        return true;
    }

    void close_connection() {
        if (tls_active) {
            // Best effort: the peer may be gone already.
            mbedtls_ssl_close_notify(&ssl);
            tls_active = false;
        }
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
        // A fresh context per connection: no session state carries over.
        mbedtls_ssl_free(&ssl);
        mbedtls_ssl_init(&ssl);
    }

    // A kept-alive connection the peer closed while idle is readable (EOF)
    // before we send anything; detecting that here saves a failed write.
    bool idle_connection_alive() {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 0) == 0) {
            return true;
        }
        return false;  // data or EOF while idle: either way not a clean connection
    }

    enum class Io { Ok, Error, Timeout, Closed };

    Io send_all(std::string_view data) {
        while (!data.empty()) {
            long n = 0;
            if (tls_active) {
                const int rc = mbedtls_ssl_write(&ssl, reinterpret_cast<const unsigned char*>(data.data()), data.size());
                if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
                    continue;
                }
                if (rc < 0) {
                    last_tls_error = rc;
                    return rc == MBEDTLS_ERR_SSL_TIMEOUT ? Io::Timeout : Io::Error;
                }
                n = rc;
            } else {
                n = raw_send(data.data(), data.size());
                if (n == -2) {
                    return Io::Timeout;
                }
                if (n < 0) {
                    return Io::Error;
                }
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return Io::Ok;
    }

    // Bytes read into buf, or an Io state (Closed = clean EOF).
    std::pair<Io, std::size_t> recv_some(char* buf, std::size_t len) {
        if (tls_active) {
            for (;;) {
                const int rc = mbedtls_ssl_read(&ssl, reinterpret_cast<unsigned char*>(buf), len);
                if (rc > 0) {
                    return {Io::Ok, static_cast<std::size_t>(rc)};
                }
                if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
                    return {Io::Closed, 0};
                }
                if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
                    continue;
                }
                last_tls_error = rc;
                if (rc == MBEDTLS_ERR_SSL_TIMEOUT) {
                    return {Io::Timeout, 0};
                }
                if (rc == MBEDTLS_ERR_NET_RECV_FAILED && last_errno == ECONNRESET) {
                    return {Io::Closed, 0};
                }
                return {Io::Error, 0};
            }
        }
        const long n = raw_recv(buf, len, opts.read_timeout);
        if (n == -2) {
            return {Io::Timeout, 0};
        }
        if (n < 0) {
            return {last_errno == ECONNRESET ? Io::Closed : Io::Error, 0};
        }
        if (n == 0) {
            return {Io::Closed, 0};
        }
        return {Io::Ok, static_cast<std::size_t>(n)};
    }

    std::string io_error_text() const {
        if (tls_active && last_tls_error != 0 && last_tls_error != MBEDTLS_ERR_NET_SEND_FAILED &&
            last_tls_error != MBEDTLS_ERR_NET_RECV_FAILED) {
            return mbed_error(last_tls_error);
        }
        return errno_text(last_errno);
    }

    enum class Attempt { Done, Failed, RetryOnFreshConnection };

    Attempt attempt(std::string_view wire, bool head, std::optional<HttpClientResponse>& out, std::string* error) {
        const bool reused = !fresh;
        fresh = false;
        last_errno = 0;
        last_tls_error = 0;
        timed_out = false;
        const Io s = send_all(wire);
        if (s != Io::Ok) {
            close_connection();
            if (reused && s != Io::Timeout) {
                return Attempt::RetryOnFreshConnection;
            }
            *error = s == Io::Timeout ? "sending to " + where() + " timed out after " +
                                            std::to_string(opts.read_timeout.count()) + " ms (read_timeout)"
                                      : "sending to " + where() + " failed: " + io_error_text();
            return Attempt::Failed;
        }
        parser.begin(head);
        if (on_body != nullptr) {
            parser.stream_body();
        }
        char buf[16384];
        for (;;) {
            const auto [io, n] = recv_some(buf, sizeof buf);
            if (io == Io::Ok) {
                const auto st = parser.feed(std::string_view(buf, n));
                if (on_body != nullptr && st != ResponseParseStatus::Error && parser.status_code() >= 200 &&
                    parser.status_code() <= 299) {
                    const std::string piece = parser.take_body();
                    if (!piece.empty() && !(*on_body)(piece)) {
                        close_connection();  // the caller has had enough: the rest is not read
                        out = parser.take();
                        return Attempt::Done;
                    }
                }
                if (st == ResponseParseStatus::NeedMore) {
                    continue;
                }
                if (st == ResponseParseStatus::Error) {
                    *error = "invalid response from " + where() + ": " + parser.error();
                    close_connection();
                    return Attempt::Failed;
                }
                break;
            }
            if (io == Io::Closed) {
                if (!parser.received_any() && reused) {
                    close_connection();
                    return Attempt::RetryOnFreshConnection;
                }
                if (parser.finish() == ResponseParseStatus::Complete) {
                    break;
                }
                *error = "connection to " + where() + " closed " +
                         (parser.received_any() ? "before the response was complete" : "without a response");
                close_connection();
                return Attempt::Failed;
            }
            *error = io == Io::Timeout ? "no response from " + where() + " within " +
                                             std::to_string(opts.read_timeout.count()) + " ms (read_timeout)"
                                       : "receiving from " + where() + " failed: " + io_error_text();
            close_connection();
            return Attempt::Failed;
        }
        if (!parser.keep_alive() || parser.has_trailing_data()) {
            close_connection();
        }
        if (on_body != nullptr && parser.status_code() >= 200 && parser.status_code() <= 299) {
            const std::string piece = parser.take_body();
            if (!piece.empty()) {
                (*on_body)(piece);
            }
        }
        out = parser.take();
        return Attempt::Done;
    }

    std::optional<HttpClientResponse> request(std::string_view method, std::string_view target,
                                              const HttpHeaders& headers, std::string_view body,
                                              std::string* error, const HttpClient::BodyChunkFn* stream = nullptr) {
        on_body = stream;
        std::string scratch;
        if (error == nullptr) {
            error = &scratch;
        }
        error->clear();
        if (method.empty() || has_crlf(method) || method.find(' ') != std::string_view::npos || target.empty() ||
            has_crlf(target) || target.find(' ') != std::string_view::npos) {
            *error = "invalid request method or target";
            return std::nullopt;
        }
        bool has_host = false;
        bool has_ua = false;
        bool has_encoding = false;
        for (const auto& [k, v] : headers) {
            if (k.empty() || has_crlf(k) || has_crlf(v) || k.find(':') != std::string::npos) {
                *error = "invalid request header \"" + k + "\"";
                return std::nullopt;
            }
            if (iequals(k, "content-length") || iequals(k, "transfer-encoding") || iequals(k, "connection")) {
                *error = "request header " + k + " is set by the client";
                return std::nullopt;
            }
            has_host = has_host || iequals(k, "host");
            has_ua = has_ua || iequals(k, "user-agent");
            has_encoding = has_encoding || iequals(k, "content-encoding");
        }

        std::optional<std::string> compressed;
        if (opts.gzip_requests && !has_encoding && body.size() >= kGzipThreshold) {
            compressed = gzip_compress(body);
            if (!compressed) {
                log::warn("http client {}: gzip failed, sending the body uncompressed", where());
            }
        }
        const std::string_view payload = compressed ? std::string_view(*compressed) : body;

        std::string wire;
        wire.reserve(256 + payload.size());
        wire.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
        if (!has_host) {
            wire += "Host: ";
            const bool v6 = opts.host.find(':') != std::string::npos;
            wire += v6 ? "[" + opts.host + "]" : opts.host;
            const int default_port = opts.tls.enabled ? 443 : 80;
            if (opts.port != default_port) {
                wire += ":" + std::to_string(opts.port);
            }
            wire += "\r\n";
        }
        if (!has_ua) {
            wire += "User-Agent: sluice/" SLUICE_VERSION "\r\n";
        }
        for (const auto& [k, v] : headers) {
            wire.append(k).append(": ").append(v).append("\r\n");
        }
        if (compressed) {
            wire += "Content-Encoding: gzip\r\n";
        }
        const bool body_method = !payload.empty() || method == "POST" || method == "PUT" || method == "PATCH";
        if (body_method) {
            wire += "Content-Length: " + std::to_string(payload.size()) + "\r\n";
        }
        wire += "\r\n";
        wire.append(payload);

        const bool head = method == "HEAD";
        for (int round = 0; round < 2; ++round) {
            if (fd >= 0 && !idle_connection_alive()) {
                close_connection();
            }
            if (fd < 0 && !connect(error)) {
                return std::nullopt;
            }
            std::optional<HttpClientResponse> out;
            const Attempt a = attempt(wire, head, out, error);
            if (a == Attempt::Done) {
                return out;
            }
            if (a == Attempt::Failed) {
                return std::nullopt;
            }
            log::debug("http client {}: kept-alive connection was closed by the peer, reconnecting", where());
        }
        *error = "connection to " + where() + " closed without a response";
        return std::nullopt;
    }

    HttpClientOptions opts;
    HttpResponseParser parser;
    const HttpClient::BodyChunkFn* on_body = nullptr;  // during request_stream
    int fd = -1;
    bool fresh = false;
    bool tls_active = false;
    bool timed_out = false;
    int last_errno = 0;
    int last_tls_error = 0;

    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    bool drbg_seeded = false;
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own_cert;
    mbedtls_pk_context own_key;
    bool conf_ready = false;
    std::vector<FileStamp> conf_stamps;
    std::string peer_names;
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

std::optional<HttpClientResponse> HttpClient::request(std::string_view method, std::string_view target,
                                                      const HttpHeaders& headers, std::string_view body,
                                                      std::string* error) {
    return impl_->request(method, target, headers, body, error);
}

std::optional<HttpClientResponse> HttpClient::request_stream(std::string_view method, std::string_view target,
                                                             const HttpHeaders& headers, const BodyChunkFn& on_body,
                                                             std::string* error) {
    auto r = impl_->request(method, target, headers, {}, error, &on_body);
    impl_->on_body = nullptr;
    return r;
}

void HttpClient::close() {
    impl_->close_connection();
}

const HttpClientOptions& HttpClient::options() const {
    return impl_->opts;
}

}  // namespace sluice::net
