#pragma once
// Certificate helpers of the HTTP client's TLS: file stamps (to notice
// replaced certificate files), IP literals, the iPAddress SAN check mbedTLS
// 2.28 lacks, and the names a certificate is for (for error messages).
// Private to src/net.

#include <sys/types.h>

#include <mbedtls/x509_crt.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::net::tls_detail {

struct FileStamp {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;

    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::string& path);
bool is_ip_literal(const std::string& host, unsigned char* out, std::size_t& len);
// mbedTLS 2.28 checks host names against dNSName SANs and the CN only; an
// iPAddress SAN (what a certificate for "https://10.0.0.5" carries) is
// ignored. Walks the certificate's extensions for one that matches.
bool cert_has_ip_san(const mbedtls_x509_crt& crt, const unsigned char* ip, std::size_t ip_len);
// "a.example, b.example" from the dNSName SANs, else the CN.
std::string cert_names(const mbedtls_x509_crt& crt);

}  // namespace sluice::net::tls_detail
