// ${ENV} expansion and secrets ("@/path", "@credential:NAME", "@@literal").

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <unistd.h>

#include <fmt/format.h>

#include "config/resolve.hpp"
#include "core/option_text.hpp"

namespace sluice {

namespace {

using option_text::is_alpha;
using option_text::is_digit;
using option_text::quoted;
using option_text::set_error;

std::optional<std::string> read_small_file(const std::string& path, std::string* error) {
    constexpr std::size_t kMaxSecretBytes = 1 << 20;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        set_error(error, fmt::format("cannot read secret file '{}': {}", path, std::strerror(errno)));
        return std::nullopt;
    }
    std::string data;
    char buf[4096];
    bool too_big = false;
    bool failed = false;
    for (;;) {
        const std::size_t n = std::fread(buf, 1, sizeof buf, f);
        data.append(buf, n);
        if (data.size() > kMaxSecretBytes) {
            too_big = true;
            break;
        }
        if (n < sizeof buf) {
            failed = std::ferror(f) != 0;
            break;
        }
    }
    const int saved = errno;
    std::fclose(f);
    if (too_big) {
        set_error(error, fmt::format("secret file '{}' is larger than 1MiB", path));
        return std::nullopt;
    }
    if (failed) {
        set_error(error, fmt::format("cannot read secret file '{}': {}", path, std::strerror(saved)));
        return std::nullopt;
    }
    while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) {
        data.pop_back();
    }
    return data;
}

}  // namespace

std::optional<std::string> expand_env(std::string_view text, std::string* error) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c != '$') {
            out += c;
            ++i;
            continue;
        }
        if (text.substr(i, 3) == "$${") {
            out += "${";
            i += 3;
            continue;
        }
        if (text.substr(i, 2) != "${") {
            out += c;
            ++i;
            continue;
        }
        const auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            set_error(error, "unterminated '${' (write '$${' for a literal '${')");
            return std::nullopt;
        }
        std::string_view inner = text.substr(i + 2, close - i - 2);
        std::optional<std::string_view> fallback;
        if (const auto sep = inner.find(":-"); sep != std::string_view::npos) {
            fallback = inner.substr(sep + 2);
            inner = inner.substr(0, sep);
        }
        bool valid = !inner.empty() && !is_digit(inner.front());
        for (char ch : inner) {
            valid = valid && (is_alpha(ch) || is_digit(ch) || ch == '_');
        }
        if (!valid) {
            set_error(error, fmt::format("invalid environment variable name {} in '${{...}}'", quoted(inner)));
            return std::nullopt;
        }
        const std::string name(inner);
        const char* value = std::getenv(name.c_str());
        if (value != nullptr && (*value != '\0' || !fallback)) {
            out += value;
        } else if (fallback) {
            out += *fallback;
        } else {
            set_error(error, fmt::format("environment variable '{}' is not set", name));
            return std::nullopt;
        }
        i = close + 1;
    }
    return out;
}

std::optional<std::string> resolve_secret(std::string_view text, std::string* error) {
    // The '@' forms are decided on what the user wrote, never on what an
    // environment variable expands to, so a password from the environment
    // that starts with '@' stays a password.
    constexpr std::string_view kCredential = "@credential:";
    if (text.starts_with("@@")) {
        return expand_env(text.substr(1), error);
    }
    if (text.starts_with(kCredential)) {
        auto name = expand_env(text.substr(kCredential.size()), error);
        if (!name) {
            return std::nullopt;
        }
        if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..") {
            set_error(error, fmt::format("invalid credential name {}", quoted(*name)));
            return std::nullopt;
        }
        const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
        if (dir == nullptr || *dir == '\0') {
            set_error(error, fmt::format("'@credential:{}' needs $CREDENTIALS_DIRECTORY, which systemd sets "
                                         "for units with LoadCredential=",
                                         *name));
            return std::nullopt;
        }
        return read_small_file(std::string(dir) + "/" + *name, error);
    }
    if (text.starts_with("@")) {
        auto path = expand_env(text.substr(1), error);
        if (!path) {
            return std::nullopt;
        }
        if (path->empty()) {
            set_error(error, "'@' must be followed by a file path (write '@@' for a literal '@')");
            return std::nullopt;
        }
        if (path->find('/') == std::string::npos && ::access(path->c_str(), F_OK) != 0) {
            // No slash and no such file: this may be a literal secret that
            // happens to begin with '@' (one Z85 key in 85 does). Never echo it.
            set_error(error, fmt::format("the value begins with '@', so it names a secret file, and there is no "
                                         "such file ({}); a secret that itself begins with '@' is written "
                                         "'@@...' (the value is not shown)",
                                         std::strerror(errno)));
            return std::nullopt;
        }
        return read_small_file(*path, error);
    }
    return expand_env(text, error);
}
}  // namespace sluice
