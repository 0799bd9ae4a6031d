// URLs as `sluice relay` and URL-style options use them. Only the generic
// syntax is parsed here; what host, path and query mean is up to the component.

#include "core/url.hpp"

#include <cctype>

#include <charconv>

#include <fmt/format.h>

#include "core/hex.hpp"

namespace sluice {

namespace {

bool is_scheme_char(char c, bool first) {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (first) {
        return alpha;
    }
    return alpha || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

void set_error(std::string* error, std::string text) {
    if (error != nullptr) {
        *error = std::move(text);
    }
}

}  // namespace

std::string percent_encode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out += c;
        } else {
            static constexpr char kHex[] = "0123456789ABCDEF";
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) {
                return std::nullopt;
            }
            const int hi = hex_digit(in[i + 1]);
            const int lo = hex_digit(in[i + 2]);
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

const std::string* Url::param(std::string_view key) const {
    for (const auto& [k, v] : query) {
        if (k == key) {
            return &v;
        }
    }
    return nullptr;
}

std::optional<Url> parse_url(std::string_view text, std::string* error) {
    if (text.empty()) {
        set_error(error, "empty URL");
        return std::nullopt;
    }
    for (char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            set_error(error, "URL contains a control character");
            return std::nullopt;
        }
    }
    std::size_t colon = 0;
    while (colon < text.size() && is_scheme_char(text[colon], colon == 0)) {
        ++colon;
    }
    if (colon == 0 || colon >= text.size() || text[colon] != ':') {
        std::string msg = fmt::format("'{}' is not a URL: expected scheme:..., e.g. file:///var/log/app.log", text);
        if (text.front() == '/') {
            msg = fmt::format("'{}' is not a URL: for a file write file://{}", text, text);
        }
        set_error(error, std::move(msg));
        return std::nullopt;
    }
    // Every '%' starts an escape: a stray one is a mistake to name, not text
    // to pass on (mqtt://h/%zz would subscribe to a topic nobody meant).
    for (std::size_t i = colon; i < text.size(); ++i) {
        if (text[i] == '%' && (i + 2 >= text.size() || hex_digit(text[i + 1]) < 0 || hex_digit(text[i + 2]) < 0)) {
            set_error(error, fmt::format("bad escape '{}' in the URL at column {}: '%' must be followed by two hex "
                                         "digits (write a literal '%' as %25)",
                                         text.substr(i, std::min<std::size_t>(3, text.size() - i)), i + 1));
            return std::nullopt;
        }
    }
    // (Escapes are checked above, so the decodes below cannot fail.)
    auto decode = [](std::string_view part) { return percent_decode(part).value_or(std::string{}); };
    Url url;
    url.scheme.reserve(colon);
    for (std::size_t i = 0; i < colon; ++i) {
        const char c = text[i];
        url.scheme += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view rest = text.substr(colon + 1);

    if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
        // MQTT wildcards are the usual reason for a '#' here.
        set_error(error, "URL fragments ('#...') are not supported; write a literal '#' as %23");
        return std::nullopt;
    }
    std::string_view query;
    if (const auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }

    if (rest.starts_with("//")) {
        rest.remove_prefix(2);
        const auto slash = rest.find('/');
        std::string_view authority = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
        if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
            const std::string_view userinfo = authority.substr(0, at);
            authority.remove_prefix(at + 1);
            const auto pw = userinfo.find(':');
            url.user = decode(userinfo.substr(0, pw));
            if (pw != std::string_view::npos) {
                url.password = decode(userinfo.substr(pw + 1));
            }
        }
        std::string_view port;
        if (authority.starts_with("[")) {
            const auto close = authority.find(']');
            if (close == std::string_view::npos) {
                set_error(error, "unterminated '[' in the host of the URL");
                return std::nullopt;
            }
            url.host = std::string(authority.substr(1, close - 1));
            authority.remove_prefix(close + 1);
            if (!authority.empty()) {
                if (authority.front() != ':') {
                    set_error(error, "unexpected text after ']' in the host of the URL");
                    return std::nullopt;
                }
                port = authority.substr(1);
                if (port.empty()) {
                    set_error(error, "empty port in the URL");
                    return std::nullopt;
                }
            }
        } else {
            const auto pc = authority.rfind(':');
            // In iio URLs a ':' followed by a letter is part of a device
            // name (iio://iio:device0/...), not a port; anywhere else what
            // follows the last ':' is a port and must be a number
            // (crate://host:notaport/ is an error, not a host name).
            const bool names_port = pc != std::string_view::npos &&
                                    (url.scheme != "iio" || pc + 1 == authority.size() ||
                                     std::isdigit(static_cast<unsigned char>(authority[pc + 1])) != 0);
            if (names_port) {
                port = authority.substr(pc + 1);
                authority = authority.substr(0, pc);
                if (port.empty()) {
                    set_error(error, "empty port in the URL");
                    return std::nullopt;
                }
            }
            url.host = decode(authority);
        }
        if (!port.empty()) {
            int p = 0;
            const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
            if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
                set_error(error, fmt::format("invalid port '{}' in the URL (1-65535)", port));
                return std::nullopt;
            }
            url.port = p;
        }
    }
    url.path = decode(rest);

    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        if (!pair.empty()) {
            const auto eq = pair.find('=');
            std::string key = decode(pair.substr(0, eq));
            std::string value = eq == std::string_view::npos ? std::string{} : decode(pair.substr(eq + 1));
            if (key.empty()) {
                set_error(error, fmt::format("empty parameter name in the URL query ('{}')", pair));
                return std::nullopt;
            }
            url.query.emplace_back(std::move(key), std::move(value));
        }
        if (amp == std::string_view::npos) {
            break;
        }
        query.remove_prefix(amp + 1);
    }
    return url;
}

}  // namespace sluice
