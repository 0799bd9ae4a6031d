#include "net/mqtt/tls_probe.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/tcp_probe.hpp"

// SLUICE_MQTT_TLS=0 (CMake SLUICE_MQTT_TLS=OFF): Paho's plain-TCP client, no
// OpenSSL; only the TCP probe is built.
#ifndef SLUICE_MQTT_TLS
#define SLUICE_MQTT_TLS 1
#endif
#if SLUICE_MQTT_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

namespace sluice::mqtt {

namespace {

struct FdCloser {
    int fd = -1;
    ~FdCloser() {
        if (fd >= 0) {
            ::close(fd);
        }
    }
};

#if SLUICE_MQTT_TLS
std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        // "error:0A000086:SSL routines::certificate verify failed" → the part after the last ':'
        std::string_view s(buf);
        const auto colon = s.rfind(':');
        if (colon != std::string_view::npos && colon + 1 < s.size()) {
            s = s.substr(colon + 1);
        }
        out += (out.empty() ? "" : "; ") + std::string(s);
    }
    return out;
}
#endif

#if SLUICE_MQTT_TLS
std::string certificate_names(X509* cert) {
    std::string out;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names != nullptr) {
        for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
            const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
            if (n->type == GEN_DNS) {
                const auto* s = reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName));
                out += (out.empty() ? "" : ", ") + fmt::format("DNS:{}", std::string_view(s, ASN1_STRING_length(n->d.dNSName)));
            } else if (n->type == GEN_IPADD) {
                char buf[INET6_ADDRSTRLEN] = {};
                const int len = ASN1_STRING_length(n->d.iPAddress);
                const int family = len == 4 ? AF_INET : AF_INET6;
                if (inet_ntop(family, ASN1_STRING_get0_data(n->d.iPAddress), buf, sizeof buf) != nullptr) {
                    out += (out.empty() ? "" : ", ") + fmt::format("IP:{}", buf);
                }
            }
        }
        GENERAL_NAMES_free(names);
    }
    if (out.empty()) {
        char cn[256] = {};
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
            out = fmt::format("CN={}", cn);
        }
    }
    return out.empty() ? "no names" : out;
}

int key_password_cb(char* buf, int size, int /*rwflag*/, void* u) {
    const auto* pw = static_cast<const std::string*>(u);
    const int n = std::min<int>(size - 1, static_cast<int>(pw->size()));
    std::memcpy(buf, pw->data(), static_cast<std::size_t>(n));
    buf[n] = '\0';
    return n;
}
#endif

}  // namespace

#if SLUICE_MQTT_TLS
std::string probe_tls(const Connection& s, std::chrono::seconds timeout) {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!ctx) {
        return "cannot create a TLS context: " + openssl_errors();
    }
    // Verification is judged below from the verify result, so the handshake
    // goes through and the certificate's names can be reported.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    if (!s.ca_file.empty() || !s.ca_path.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.empty() ? nullptr : s.ca_file.c_str(),
                                          s.ca_path.empty() ? nullptr : s.ca_path.c_str()) != 1) {
            return "cannot load ca_file/ca_path: " + openssl_errors();
        }
    } else {
        SSL_CTX_set_default_verify_paths(ctx.get());
    }
    if (!s.cert_file.empty()) {
        if (!s.key_password.empty()) {
            SSL_CTX_set_default_passwd_cb(ctx.get(), key_password_cb);
            SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), const_cast<std::string*>(&s.key_password));
        }
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), s.cert_file.c_str()) != 1) {
            return "cannot load cert_file: " + openssl_errors();
        }
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), s.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
            return "cannot load key_file: " + openssl_errors();
        }
    }
    std::string error;
    FdCloser fd{connect_tcp(s.host, s.port, timeout, error)};
    if (fd.fd < 0) {
        return fmt::format("cannot connect: {}", error);
    }
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
    SSL_set_fd(ssl.get(), fd.fd);
    SSL_set_tlsext_host_name(ssl.get(), s.host.c_str());
    if (SSL_connect(ssl.get()) != 1) {
        const std::string e = openssl_errors();
        return "handshake failed: " + (e.empty() ? std::string("connection closed by the broker") : e);
    }
    std::unique_ptr<X509, decltype(&X509_free)> cert(SSL_get1_peer_certificate(ssl.get()), X509_free);
    std::string verdict;
    if (!cert) {
        verdict = "the broker sent no certificate";
    } else if (const long vr = SSL_get_verify_result(ssl.get()); vr != X509_V_OK && !s.insecure_skip_verify) {
        verdict = fmt::format("certificate verify failed: {}", X509_verify_cert_error_string(vr));
    } else if (s.verify_hostname && !s.insecure_skip_verify &&
               X509_check_host(cert.get(), s.host.c_str(), s.host.size(), 0, nullptr) != 1 &&
               X509_check_ip_asc(cert.get(), s.host.c_str(), 0) != 1) {
        verdict = fmt::format("the server certificate does not match '{}' (it is for {})", s.host,
                              certificate_names(cert.get()));
    }
    // A broker that wants a client certificate may only refuse it after the
    // handshake; reading once surfaces that alert.
    if (verdict.empty()) {
        // Non-blocking: a healthy broker sends nothing (session tickets at
        // most) until it gets CONNECT, so only look for an alert briefly.
        fcntl(fd.fd, F_SETFL, fcntl(fd.fd, F_GETFL) | O_NONBLOCK);
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
        char byte = 0;
        while (verdict.empty() && std::chrono::steady_clock::now() < until) {
            pollfd p{fd.fd, POLLIN, 0};
            if (::poll(&p, 1, 50) != 1) {
                continue;
            }
            const int n = SSL_read(ssl.get(), &byte, 1);
            if (n > 0) {
                break;
            }
            const int err = SSL_get_error(ssl.get(), n);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                continue;
            }
            const std::string e = openssl_errors();
            verdict = "the broker closed the connection" + (e.empty() ? std::string() : ": " + e);
        }
    }
    SSL_shutdown(ssl.get());
    return verdict;
}

#else
std::string probe_tls(const Connection&, std::chrono::seconds) {
    return "this build has no MQTT TLS (SLUICE_MQTT_TLS=OFF)";
}
#endif

bool probe_broker(const Connection& c, std::string& detail) {
    const auto timeout = std::max(c.connect_timeout, std::chrono::seconds(1));
    std::string why = probe_tcp(c.host, c.port, timeout);
    if (why.empty() && c.tls) {
        why = probe_tls(c, timeout);
    }
    detail = fmt::format("{} {}", c.server, why.empty() ? "accepts connections" : why);
    return why.empty();
}

}  // namespace sluice::mqtt
