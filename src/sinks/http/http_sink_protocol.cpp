#include "sinks/http/http_sink_protocol.hpp"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "text/text.hpp"
#include "text/text_value.hpp"

namespace sluice::http_sink {

std::string_view default_content_type(const BodyFormat& f) {
    switch (f.format) {
        case payload::Format::Json:
            return f.framing == Framing::Array ? "application/json" : "application/x-ndjson";
        case payload::Format::Influx:
            return "text/plain; charset=utf-8";
        case payload::Format::Raw:
            break;
    }
    return "application/octet-stream";
}

BodyBuilder::Added BodyBuilder::add(const Record& r, std::string* error) {
    const std::size_t before = body_.size();
    if (f_.framing == Framing::Array) {
        body_.push_back(records_ == 0 ? '[' : ',');
    }
    const std::size_t start = body_.size();
    if (!payload::append_payload(f_.format, f_.raw_field, r, body_, error)) {
        body_.resize(before);
        return Added::Refused;
    }
    if (f_.framing == Framing::Lines && body_.find('\n', start) != std::string::npos) {
        // JSON and line protocol escape theirs; a raw payload would become two records.
        body_.resize(before);
        *error = "the raw payload holds a line break, so it cannot go one per line (framing = \"lines\")";
        return Added::Refused;
    }
    // One more byte closes the body: ']' or the last line's '\n'.
    if (records_ > 0 && body_.size() + 1 > f_.max_body) {
        body_.resize(before);
        return Added::Full;
    }
    if (f_.framing == Framing::Lines) {
        body_.push_back('\n');
    }
    ++records_;
    return Added::Yes;
}

std::string BodyBuilder::take() {
    if (f_.framing == Framing::Array && records_ > 0) {
        body_.push_back(']');
    }
    records_ = 0;
    return std::exchange(body_, std::string());
}

Verdict verdict_for(int status) {
    if (status >= 200 && status <= 299) {
        return Verdict::Delivered;
    }
    switch (status) {
        case 401:  // credentials: the records are not at fault, and a reload fixes it
        case 403:
        case 407:
        case 408:  // the receiver timed out reading
        case 429:  // too many requests
            return Verdict::Retry;
        case 413:
            return Verdict::Split;
        default:
            break;
    }
    return status >= 400 && status <= 499 ? Verdict::Refuse : Verdict::Retry;
}

namespace {

bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_header_line(std::string_view line,
                                                                     bool allow_authorization, std::string* error) {
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
        *error = fmt::format("'{}' is not a header: write \"Name: value\"", excerpt(line));
        return std::nullopt;
    }
    std::string_view name = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (name.empty()) {
        *error = fmt::format("'{}' has no header name before ':'", excerpt(line));
        return std::nullopt;
    }
    for (char c : name) {
        if (!is_token_char(c)) {
            *error = fmt::format("header name '{}' holds '{}', which HTTP does not allow in a name", excerpt(name),
                                 excerpt(std::string_view(&c, 1)));
            return std::nullopt;
        }
    }
    if (!valid_header_value(value)) {
        *error = fmt::format("the value of header '{}' holds a line break or another control character", name);
        return std::nullopt;
    }
    static constexpr std::array<std::string_view, 6> kOwn = {
        "Host", "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Connection"};
    for (std::string_view own : kOwn) {
        if (iequals(name, own)) {
            *error = fmt::format("header '{}' is set by the sink{}", own,
                                 own == "Content-Type" ? " (use the content_type option)" : "");
            return std::nullopt;
        }
    }
    if (!allow_authorization && iequals(name, "Authorization")) {
        *error = "an Authorization header goes in token, user/password or auth_header, which are secrets: headers "
                 "are shown by `sluice describe`";
        return std::nullopt;
    }
    return std::make_pair(std::string(name), std::string(value));
}

bool valid_header_value(std::string_view value) {
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            return false;
        }
    }
    return true;
}

bool has_dot_segment(std::string_view target) {
    std::string_view path = target.substr(0, target.find('?'));
    while (!path.empty()) {
        path.remove_prefix(1);  // the '/'
        const std::size_t end = path.find('/');
        const std::string_view seg = path.substr(0, end);
        // "." or ".." written plainly or with %2E (either case) for a dot.
        std::size_t dots = 0;
        std::size_t i = 0;
        bool only_dots = !seg.empty();
        while (i < seg.size() && only_dots) {
            if (seg[i] == '.') {
                ++dots;
                ++i;
            } else if (seg.size() - i >= 3 && seg[i] == '%' && seg[i + 1] == '2' && (seg[i + 2] == 'e' || seg[i + 2] == 'E')) {
                ++dots;
                i += 3;
            } else {
                only_dots = false;
            }
        }
        if (only_dots && dots <= 2) {
            return true;
        }
        if (end == std::string_view::npos) {
            break;
        }
        path.remove_prefix(end);
    }
    return false;
}

std::string path_from_url(std::string_view decoded) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : decoded) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '%' || c == '?' || c == '#') {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

bool valid_path_template(std::string_view text, std::string* error) {
    if (text.empty() || text.front() != '/') {
        *error = fmt::format("'{}' must start with '/'", excerpt(text));
        return false;
    }
    if (has_dot_segment(text)) {
        *error = fmt::format("'{}' has a '.' or '..' segment; write the path the receiver should get", excerpt(text));
        return false;
    }
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '#') {
            *error = fmt::format("'{}' holds '{}', which a request path cannot; write it percent-encoded (a space "
                                 "is %20)",
                                 excerpt(text), excerpt(std::string_view(&c, 1)));
            return false;
        }
    }
    return true;
}

}  // namespace sluice::http_sink
