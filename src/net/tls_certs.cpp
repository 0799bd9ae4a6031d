// Certificate helpers of the HTTP client's TLS (see tls_certs.hpp).

#include "net/tls_certs.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>

#include <cstring>

namespace sluice::net::tls_detail {

FileStamp stamp_of(const std::string& path) {
    FileStamp s;
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) {
        return s;
    }
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    return s;
}

bool is_ip_literal(const std::string& host, unsigned char* out, std::size_t& len) {
    if (::inet_pton(AF_INET, host.c_str(), out) == 1) {
        len = 4;
        return true;
    }
    if (::inet_pton(AF_INET6, host.c_str(), out) == 1) {
        len = 16;
        return true;
    }
    return false;
}

// mbedTLS 2.28 checks host names against dNSName SANs and the CN only; an
// iPAddress SAN (what a certificate for "https://10.0.0.5" carries) is
// ignored. Walk the certificate's extensions for one that matches.
bool cert_has_ip_san(const mbedtls_x509_crt& crt, const unsigned char* ip, std::size_t ip_len) {
    unsigned char* p = crt.v3_ext.p;
    if (p == nullptr) {
        return false;
    }
    const unsigned char* end = p + crt.v3_ext.len;
    std::size_t len = 0;
    // v3_ext holds the [3] explicit tag's content: SEQUENCE OF Extension.
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        return false;
    }
    const unsigned char* exts_end = p + len;
    while (p < exts_end) {
        if (mbedtls_asn1_get_tag(&p, exts_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
            return false;
        }
        const unsigned char* ext_end = p + len;
        mbedtls_x509_buf oid{};
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0) {
            return false;
        }
        oid.p = p;
        p += oid.len;
        int critical = 0;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN) {
            if (mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0) {
                return false;
            }
        }
        if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0) {
            return false;
        }
        const bool is_san = oid.len == MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME) &&
                            std::memcmp(oid.p, MBEDTLS_OID_SUBJECT_ALT_NAME, oid.len) == 0;
        if (is_san) {
            unsigned char* q = p;
            const unsigned char* san_end = p + len;
            std::size_t seq_len = 0;
            if (mbedtls_asn1_get_tag(&q, san_end, &seq_len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
                return false;
            }
            while (q < san_end) {
                const unsigned char tag = *q++;
                std::size_t n = 0;
                if (mbedtls_asn1_get_len(&q, san_end, &n) != 0) {
                    return false;
                }
                // [7] IMPLICIT OCTET STRING: iPAddress
                if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && n == ip_len && std::memcmp(q, ip, n) == 0) {
                    return true;
                }
                q += n;
            }
        }
        p = const_cast<unsigned char*>(ext_end);
    }
    return false;
}

std::string cert_names(const mbedtls_x509_crt& crt) {
    std::string names;
    for (const mbedtls_x509_sequence* s = &crt.subject_alt_names; s != nullptr && s->buf.p != nullptr; s = s->next) {
        if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
            if (!names.empty()) {
                names += ", ";
            }
            names.append(reinterpret_cast<const char*>(s->buf.p), s->buf.len);
        }
    }
    if (names.empty()) {
        for (const mbedtls_x509_name* n = &crt.subject; n != nullptr; n = n->next) {
            if (n->oid.p != nullptr && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
                names.assign(reinterpret_cast<const char*>(n->val.p), n->val.len);
            }
        }
    }
    return names.empty() ? std::string("another name") : names;
}

}  // namespace sluice::net::tls_detail
