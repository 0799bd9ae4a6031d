#include "keys/field_crypto.hpp"

#include <sys/random.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

#include "core/hex.hpp"
#include "core/record_json.hpp"
#include "text/base64.hpp"

namespace sluice::keys {
namespace {

constexpr std::size_t kNonce = 12;
constexpr std::size_t kTag = 16;

// Random bytes read ahead from the kernel, a block at a time: one
// getrandom() per ~340 nonces instead of one each.
class RandomPool {
public:
    void fill(std::span<unsigned char> out) {
        std::lock_guard lk(mu_);
        std::size_t done = 0;
        while (done < out.size()) {
            if (used_ == pool_.size()) {
                refill();
            }
            const std::size_t n = std::min(out.size() - done, pool_.size() - used_);
            std::memcpy(out.data() + done, pool_.data() + used_, n);
            // Handed out once: wiped from the pool.
            std::memset(pool_.data() + used_, 0, n);
            used_ += n;
            done += n;
        }
    }

private:
    void refill() {
        std::size_t got = 0;
        while (got < pool_.size()) {
            const ssize_t n = ::getrandom(pool_.data() + got, pool_.size() - got, 0);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                throw std::runtime_error(fmt::format("getrandom: {}", std::strerror(errno)));
            }
            got += static_cast<std::size_t>(n);
        }
        used_ = 0;
    }

    std::mutex mu_;
    std::array<unsigned char, 4096> pool_{};
    std::size_t used_ = pool_.size();
};

RandomPool& pool() {
    static RandomPool p;
    return p;
}

}  // namespace

void random_bytes(std::span<unsigned char> out) { pool().fill(out); }

Key random_key() {
    Key k{};
    random_bytes(k);
    return k;
}

std::optional<Key> parse_key(std::string_view text, std::string& error) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\n')) {
        text.remove_prefix(1);
    }
    Key k{};
    if (text.size() == 2 * kKeyBytes) {
        bool ok = true;
        for (std::size_t i = 0; i < kKeyBytes && ok; ++i) {
            const int hi = hex_digit(text[2 * i]);
            const int lo = hex_digit(text[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            k[i] = static_cast<unsigned char>(hi * 16 + lo);
        }
        if (ok) {
            return k;
        }
    }
    for (const auto alphabet : {Base64::Standard, Base64::Url}) {
        if (auto bytes = decode_base64(text, alphabet); bytes && bytes->size() == kKeyBytes) {
            std::memcpy(k.data(), bytes->data(), kKeyBytes);
            return k;
        }
    }
    error = fmt::format("a key is 32 bytes, written as 64 hex digits or in base64 (this is {} characters); make one "
                        "with `head -c 32 /dev/urandom | base64`",
                        text.size());
    return std::nullopt;
}

std::array<unsigned char, 32> hmac_sha256(std::span<const unsigned char> key, std::string_view data) {
    std::array<unsigned char, 32> out{};
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key.data(), key.size(),
                        reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data()) != 0) {
        throw std::runtime_error("HMAC-SHA256 failed");
    }
    return out;
}

struct Aead::Ctx {
    mbedtls_gcm_context gcm;
};

Aead::Aead(const Key& key) : ctx_(std::make_unique<Ctx>()) {
    mbedtls_gcm_init(&ctx_->gcm);
    if (mbedtls_gcm_setkey(&ctx_->gcm, MBEDTLS_CIPHER_ID_AES, key.data(), 256) != 0) {
        mbedtls_gcm_free(&ctx_->gcm);
        throw std::runtime_error("AES-256-GCM: cannot set the key");
    }
}

Aead::~Aead() { mbedtls_gcm_free(&ctx_->gcm); }

void Aead::seal(std::string_view plain, std::string_view aad, std::string& out) const {
    const std::size_t at = out.size();
    out.resize(at + kNonce + plain.size() + kTag);
    auto* p = reinterpret_cast<unsigned char*>(out.data() + at);
    random_bytes(std::span(p, kNonce));
    if (mbedtls_gcm_crypt_and_tag(&ctx_->gcm, MBEDTLS_GCM_ENCRYPT, plain.size(), p, kNonce,
                                  reinterpret_cast<const unsigned char*>(aad.data()), aad.size(),
                                  reinterpret_cast<const unsigned char*>(plain.data()), p + kNonce, kTag,
                                  p + kNonce + plain.size()) != 0) {
        out.resize(at);
        throw std::runtime_error("AES-256-GCM: encryption failed");
    }
}

bool Aead::open(std::string_view sealed, std::string_view aad, std::string& plain) const {
    if (sealed.size() < kNonce + kTag) {
        return false;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(sealed.data());
    const std::size_t n = sealed.size() - kNonce - kTag;
    plain.resize(n);
    return mbedtls_gcm_auth_decrypt(&ctx_->gcm, n, p, kNonce, reinterpret_cast<const unsigned char*>(aad.data()),
                                    aad.size(), p + kNonce + n, kTag, p + kNonce,
                                    reinterpret_cast<unsigned char*>(plain.data())) == 0;
}

void seal_value(const Aead& aead, std::string_view key_id, const FieldValue& v, std::string& out) {
    thread_local std::string plain;
    thread_local std::string sealed;
    thread_local std::string aad;
    plain.clear();
    if (const auto* s = std::get_if<std::string>(&v)) {
        plain += 's';
        plain += *s;
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        plain += 'i';
        append_int(plain, *i);
    } else if (const auto* d = std::get_if<double>(&v)) {
        plain += 'd';
        if (std::isnan(*d)) {
            plain += "nan";  // one spelling, whatever its sign bit
        } else {
            fmt::format_to(std::back_inserter(plain), "{}", *d);  // shortest round trip; inf and -inf too
        }
    } else {
        plain += 'b';
        plain += std::get<bool>(v) ? "true" : "false";
    }
    aad.assign(kEnvelopePrefix);
    aad += key_id;
    sealed.clear();
    aead.seal(plain, aad, sealed);
    std::fill(plain.begin(), plain.end(), '\0');
    out.assign(aad);
    out += ':';
    append_base64(out, std::string_view(sealed).substr(0, kNonce), Base64::Url, false);
    out += ':';
    append_base64(out, std::string_view(sealed).substr(kNonce), Base64::Url, false);
}

std::optional<Envelope> parse_envelope(std::string_view text) {
    if (!text.starts_with(kEnvelopePrefix)) {
        return std::nullopt;
    }
    text.remove_prefix(kEnvelopePrefix.size());
    const auto a = text.find(':');
    if (a == std::string_view::npos) {
        return std::nullopt;
    }
    const auto b = text.find(':', a + 1);
    if (b == std::string_view::npos || text.find(':', b + 1) != std::string_view::npos) {
        return std::nullopt;
    }
    Envelope e{text.substr(0, a), text.substr(a + 1, b - a - 1), text.substr(b + 1)};
    if (e.key_id.empty() || e.key_id.size() > 64 || e.nonce.empty() || e.sealed.empty()) {
        return std::nullopt;
    }
    return e;
}

bool open_value(const Aead& aead, const Envelope& e, FieldValue& out) {
    thread_local std::string aad;
    thread_local std::string plain;
    const auto nonce = decode_base64(e.nonce, Base64::Url);
    const auto sealed = decode_base64(e.sealed, Base64::Url);
    if (!nonce || nonce->size() != kNonce || !sealed) {
        return false;
    }
    aad.assign(kEnvelopePrefix);
    aad += e.key_id;
    if (!aead.open(*nonce + *sealed, aad, plain) || plain.empty()) {
        return false;
    }
    const std::string_view body = std::string_view(plain).substr(1);
    switch (plain[0]) {
        case 's':
            out = std::string(body);
            return true;
        case 'i': {
            std::int64_t v = 0;
            const auto r = std::from_chars(body.data(), body.data() + body.size(), v);
            if (r.ec != std::errc() || r.ptr != body.data() + body.size()) {
                return false;
            }
            out = v;
            return true;
        }
        case 'd': {
            double v = 0;
            if (body == "nan" || body == "inf" || body == "-inf") {
                v = body == "nan" ? std::numeric_limits<double>::quiet_NaN()
                    : body == "inf" ? std::numeric_limits<double>::infinity()
                                    : -std::numeric_limits<double>::infinity();
            } else {
                const auto r = std::from_chars(body.data(), body.data() + body.size(), v);
                if (r.ec != std::errc() || r.ptr != body.data() + body.size()) {
                    return false;
                }
            }
            out = v;
            return true;
        }
        case 'b':
            if (body != "true" && body != "false") {
                return false;
            }
            out = body == "true";
            return true;
        default:
            return false;
    }
}

bool field_listed(const std::vector<std::string>& patterns, std::string_view name) {
    for (const auto& p : patterns) {
        if (!p.empty() && p.back() == '*' ? name.starts_with(std::string_view(p).substr(0, p.size() - 1)) : name == p) {
            return true;
        }
    }
    return false;
}

}  // namespace sluice::keys
