#include "net/http_parser.hpp"
#include "text/text.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

namespace sluice::net {
namespace {

constexpr std::size_t kBodyReserveCap = 64 * 1024;  // a declared length is not a promise: grow past this


// RFC 9110 tchar: the characters of methods and header names.
bool is_tchar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Calls fn(token) for every comma-separated, OWS-trimmed, non-empty element.
template <class Fn>
void for_each_list_item(std::string_view value, Fn&& fn) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        const auto item = trim_ows(value.substr(0, comma));
        if (!item.empty()) {
            fn(item);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
}

using Failure = std::optional<std::pair<int, std::string_view>>;

Failure bad(int status, std::string_view why) { return std::make_pair(status, why); }

// Splits the target into path (decoded) and query; accepts origin-form,
// absolute-form (proxies may send it) and "*" for OPTIONS.
Failure parse_target(HttpRequest& req) {
    std::string_view t = req.target;
    if (t.empty()) {
        return bad(400, "empty request target");
    }
    for (char c : t) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '#') {
            return bad(400, "invalid character in request target");
        }
    }
    if (t == "*") {
        if (req.method != "OPTIONS") {
            return bad(400, "'*' target is only valid for OPTIONS");
        }
        req.path.assign(1, '*');  // (operator= of a literal here trips GCC 12's -Wrestrict)
        return std::nullopt;
    }
    if (t.front() != '/') {
        std::size_t scheme_len = 0;
        if (istarts_with(t, "http://")) {
            scheme_len = 7;
        } else if (istarts_with(t, "https://")) {
            scheme_len = 8;
        } else {
            return bad(400, "request target must start with '/'");
        }
        t.remove_prefix(scheme_len);
        const auto path_start = t.find_first_of("/?");
        if (path_start == 0) {
            return bad(400, "absolute request target without a host");
        }
        t = path_start == std::string_view::npos ? std::string_view("/") : t.substr(path_start);
    }
    std::string_view raw_path = t;
    const auto q = t.find('?');
    if (q != std::string_view::npos) {
        raw_path = t.substr(0, q);
        req.query.assign(t.substr(q + 1));
    }
    if (raw_path.empty()) {
        raw_path = "/";
    }
    auto decoded = percent_decode(raw_path, false);
    if (!decoded) {
        return bad(400, "malformed percent-encoding in request path");
    }
    if (decoded->find('\0') != std::string::npos) {
        return bad(400, "NUL byte in request path");
    }
    req.path = std::move(*decoded);
    return std::nullopt;
}

// Reads one Content-Length value ("12" or "12, 12"); nullopt when malformed.
// Values above `cap` come back as cap + 1 so huge numbers cannot overflow.
std::optional<std::uint64_t> parse_content_length(std::string_view value, std::uint64_t cap) {
    std::optional<std::uint64_t> result;
    bool ok = true;
    bool any = false;
    for_each_list_item(value, [&](std::string_view item) {
        any = true;
        std::uint64_t v = 0;
        for (char c : item) {
            if (c < '0' || c > '9') {
                ok = false;
                return;
            }
            v = std::min<std::uint64_t>(v * 10 + static_cast<std::uint64_t>(c - '0'), cap + 1);
        }
        if (result && *result != v) {
            ok = false;
        }
        result = v;
    });
    if (!ok || !any) {
        return std::nullopt;
    }
    return result;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) {
            return &v;
        }
    }
    return nullptr;
}

std::optional<std::string> HttpRequest::query_param(std::string_view key) const {
    std::string_view rest = query;
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const auto eq = pair.find('=');
        const auto k = percent_decode(pair.substr(0, eq), true);
        if (!k || *k != key) {
            continue;
        }
        if (eq == std::string_view::npos) {
            return std::string();
        }
        if (auto v = percent_decode(pair.substr(eq + 1), true)) {
            return v;
        }
    }
    return std::nullopt;
}

HttpRequestParser::HttpRequestParser(HttpParserLimits limits) : limits_(limits) {}

void HttpRequestParser::reset() {
    state_ = State::Head;
    head_.clear();  // keeps the capacity for the next request on this connection
    line_start_ = 0;
    body_left_ = 0;
    expect_continue_ = false;
    req_ = HttpRequest{};
    error_ = ParseResult{};
}

HttpRequest HttpRequestParser::take() {
    HttpRequest out = std::move(req_);
    reset();
    return out;
}

ParseResult HttpRequestParser::fail(int status, std::string_view why, std::size_t consumed) {
    state_ = State::Error;
    error_.status = ParseStatus::Error;
    error_.error_status = status;
    error_.error = why;
    error_.consumed = 0;
    ParseResult r = error_;
    r.consumed = consumed;
    return r;
}

ParseResult HttpRequestParser::feed(std::string_view data) {
    if (state_ == State::Complete) {
        return ParseResult{ParseStatus::Complete, 0, 0, {}};
    }
    if (state_ == State::Error) {
        return error_;
    }
    std::size_t i = 0;
    if (state_ == State::Head) {
        // RFC 9112 §2.2: ignore empty lines before the request line (some
        // clients send an extra CRLF after a POST body).
        while (head_.empty() && i < data.size() && (data[i] == '\r' || data[i] == '\n')) {
            ++i;
        }
        while (i < data.size()) {
            const void* nl = std::memchr(data.data() + i, '\n', data.size() - i);
            const std::size_t end =
                nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - data.data()) + 1 : data.size();
            if (head_.size() + (end - i) > limits_.max_header_bytes) {
                if (line_start_ == 0) {
                    return fail(414, "request line too long", data.size());
                }
                return fail(431, "request header fields too large", data.size());
            }
            head_.append(data.data() + i, end - i);
            i = end;
            if (nl == nullptr) {
                break;
            }
            const std::string_view line(head_.data() + line_start_, head_.size() - line_start_);
            if (line == "\n" || line == "\r\n") {
                if (auto f = parse_head()) {
                    return fail(f->first, f->second, i);
                }
                break;
            }
            line_start_ = head_.size();
        }
        if (state_ == State::Head) {
            return ParseResult{ParseStatus::NeedMore, i, 0, {}};
        }
    }
    if (state_ == State::Body) {
        const std::size_t n = std::min(body_left_, data.size() - i);
        req_.body.append(data.data() + i, n);
        body_left_ -= n;
        i += n;
        if (body_left_ == 0) {
            state_ = State::Complete;
        }
    }
    return ParseResult{state_ == State::Complete ? ParseStatus::Complete : ParseStatus::NeedMore, i, 0, {}};
}

std::optional<std::pair<int, std::string_view>> HttpRequestParser::parse_head() {
    // Lines end in "\n" (RFC 9112 lets a recipient accept a bare LF); any
    // other CR is an error, as it is a classic request-smuggling vector.
    std::vector<std::string_view> lines;
    std::string_view rest(head_);
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest.remove_prefix(nl + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.find('\r') != std::string_view::npos) {
            return bad(400, "stray CR in request head");
        }
        if (line.empty()) {
            break;  // the blank line that ends the head
        }
        lines.push_back(line);
    }
    if (lines.empty()) {
        return bad(400, "missing request line");
    }

    // request-line = method SP request-target SP HTTP-version
    const std::string_view rl = lines.front();
    const auto sp1 = rl.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos) {
        return bad(400, "malformed request line");
    }
    const auto method = rl.substr(0, sp1);
    const auto target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto version = rl.substr(sp2 + 1);
    if (!is_token(method)) {
        return bad(400, "invalid method");
    }
    if (version == "HTTP/1.1") {
        req_.version_minor = 1;
    } else if (version == "HTTP/1.0") {
        req_.version_minor = 0;
    } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[5] >= '0' && version[5] <= '9' &&
               version[6] == '.' && version[7] >= '0' && version[7] <= '9') {
        return bad(505, "HTTP version not supported");
    } else {
        return bad(400, "malformed HTTP version");
    }
    req_.method.assign(method);
    req_.target.assign(target);
    if (auto f = parse_target(req_)) {
        return f;
    }

    if (lines.size() - 1 > limits_.max_headers) {
        return bad(431, "too many header fields");
    }
    req_.headers.reserve(lines.size() - 1);
    for (std::size_t n = 1; n < lines.size(); ++n) {
        const std::string_view line = lines[n];
        if (line.front() == ' ' || line.front() == '\t') {
            return bad(400, "obsolete header line folding");
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            return bad(400, "header line without ':'");
        }
        const auto name = line.substr(0, colon);
        if (!is_token(name)) {
            return bad(400, "invalid header name");
        }
        const auto value = trim_ows(line.substr(colon + 1));
        for (char c : value) {
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) {
                return bad(400, "control character in header value");
            }
        }
        req_.headers.emplace_back(std::string(name), std::string(value));
    }

    // Semantics that decide how the rest of the stream is framed.
    std::size_t hosts = 0;
    std::optional<std::uint64_t> content_length;
    bool saw_close = false;
    bool saw_keep_alive = false;
    for (const auto& [name, value] : req_.headers) {
        if (iequals(name, "host")) {
            ++hosts;
        } else if (iequals(name, "transfer-encoding")) {
            return bad(501, "Transfer-Encoding (chunked request bodies) is not supported; send Content-Length");
        } else if (iequals(name, "content-length")) {
            auto v = parse_content_length(value, limits_.max_body_bytes);
            if (!v || (content_length && *content_length != *v)) {
                return bad(400, "invalid Content-Length");
            }
            content_length = v;
        } else if (iequals(name, "connection")) {
            for_each_list_item(value, [&](std::string_view token) {
                saw_close = saw_close || iequals(token, "close");
                saw_keep_alive = saw_keep_alive || iequals(token, "keep-alive");
            });
        } else if (iequals(name, "expect")) {
            if (!iequals(value, "100-continue")) {
                return bad(417, "unsupported Expect");
            }
            expect_continue_ = req_.version_minor >= 1;
        }
    }
    if (req_.version_minor >= 1 && hosts != 1) {
        return bad(400, hosts == 0 ? "missing Host header" : "more than one Host header");
    }
    if (content_length && *content_length > limits_.max_body_bytes) {
        return bad(413, "request body too large");
    }
    req_.keep_alive = req_.version_minor >= 1 ? !saw_close : (saw_keep_alive && !saw_close);

    body_left_ = content_length.value_or(0);
    if (body_left_ == 0) {
        state_ = State::Complete;
    } else {
        req_.body.reserve(std::min<std::size_t>(body_left_, kBodyReserveCap));
        state_ = State::Body;
    }
    return std::nullopt;
}

namespace {
std::mutex hidden_mu;
std::atomic<bool> any_hidden{false};
std::vector<std::string>& hidden_markers() {
    static std::vector<std::string> v;
    return v;
}
}  // namespace

void hide_path_in_logs(std::string marker) {
    for (auto& c : marker) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    std::lock_guard lk(hidden_mu);
    auto& v = hidden_markers();
    if (std::find(v.begin(), v.end(), marker) == v.end()) {
        v.push_back(std::move(marker));
    }
    any_hidden = true;
}

std::string logged_path(const HttpRequest& req) {
    if (!any_hidden.load(std::memory_order_relaxed)) {
        return req.path;
    }
    std::string lower = req.path;
    for (auto& c : lower) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    std::lock_guard lk(hidden_mu);
    for (const auto& m : hidden_markers()) {
        const auto at = lower.find(m);
        if (at != std::string::npos && lower.size() > at + m.size()) {
            return req.path.substr(0, at + m.size()) + "...";
        }
    }
    return req.path;
}

}  // namespace sluice::net
