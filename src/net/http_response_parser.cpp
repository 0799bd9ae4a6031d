#include "net/http_response_parser.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "decoders/timestamp.hpp"
#include "net/http_parser.hpp"
#include "text/text.hpp"

namespace sluice::net {
namespace {

bool is_token_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Whether a comma-separated header value lists `token` (case-insensitive).
bool lists_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
    return false;
}

// The last coding listed: only "chunked" in last place frames the body.
std::string_view last_token(std::string_view value) {
    const auto comma = value.rfind(',');
    return trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

std::string printable(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, 40)) {
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    return out;
}

}  // namespace

const std::string* HttpClientResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (iequals(k, name)) {
            return &v;
        }
    }
    return nullptr;
}

HttpResponseParser::HttpResponseParser(HttpResponseLimits limits) : limits_(limits) {}

void HttpResponseParser::begin(bool head_request) {
    head_request_ = head_request;
    stream_ = false;
    state_ = State::Head;
    status_ = ResponseParseStatus::NeedMore;
    received_any_ = false;
    keep_alive_ = false;
    buf_.clear();
    pos_ = 0;
    remaining_ = 0;
    trailer_bytes_ = 0;
    trailer_lines_ = 0;
    trailing_.clear();
    error_.clear();
    response_ = HttpClientResponse{};
}

ResponseParseStatus HttpResponseParser::fail(std::string why) {
    state_ = State::Failed;
    status_ = ResponseParseStatus::Error;
    keep_alive_ = false;
    error_ = std::move(why);
    return status_;
}

ResponseParseStatus HttpResponseParser::feed(std::string_view data) {
    if (data.empty()) {
        return status_;
    }
    received_any_ = true;
    if (state_ == State::Failed) {
        return status_;
    }
    if (state_ == State::Done) {
        trailing_.append(data.substr(0, 64));
        keep_alive_ = false;
        return status_;
    }
    buf_.append(data);
    return run();
}

ResponseParseStatus HttpResponseParser::finish() {
    if (state_ == State::Done || state_ == State::Failed) {
        return status_;
    }
    if (state_ == State::UntilClose) {
        state_ = State::Done;
        status_ = ResponseParseStatus::Complete;
        keep_alive_ = false;
        return status_;
    }
    if (!received_any_) {
        return fail("connection closed before any response");
    }
    return fail("connection closed before the response was complete");
}

bool HttpResponseParser::take_line(std::string_view& line) {
    const auto nl = buf_.find('\n', pos_);
    if (nl == std::string::npos) {
        return false;
    }
    std::size_t end = nl;
    if (end > pos_ && buf_[end - 1] == '\r') {
        --end;
    }
    line = std::string_view(buf_).substr(pos_, end - pos_);
    pos_ = nl + 1;
    return true;
}

bool HttpResponseParser::parse_head(std::string_view head) {
    // Status line: HTTP/1.x SP 3DIGIT [SP reason]
    const auto eol = head.find('\n');
    std::string_view status_line = head.substr(0, eol);
    if (!status_line.empty() && status_line.back() == '\r') {
        status_line.remove_suffix(1);
    }
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
        (status_line[7] != '0' && status_line[7] != '1') ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
        fail("malformed status line \"" + printable(status_line) + "\"");
        return false;
    }
    const int minor = status_line[7] - '0';
    int code = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        const char c = status_line[i];
        if (c < '0' || c > '9') {
            fail("malformed status line \"" + printable(status_line) + "\"");
            return false;
        }
        code = code * 10 + (c - '0');
    }
    if (code < 100) {
        fail("malformed status code " + std::to_string(code));
        return false;
    }

    HttpClientResponse resp;
    resp.status = code;
    std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 1);
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            continue;
        }
        if (line.front() == ' ' || line.front() == '\t') {
            fail("obsolete header line folding");
            return false;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            fail("malformed header line \"" + printable(line) + "\"");
            return false;
        }
        const std::string_view name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_token_char)) {
            fail("malformed header name \"" + printable(name) + "\"");
            return false;
        }
        if (resp.headers.size() >= limits_.max_headers) {
            fail("more than " + std::to_string(limits_.max_headers) + " headers");
            return false;
        }
        resp.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
    }

    if (code >= 100 && code < 200) {
        if (code == 101) {
            fail("unexpected 101 Switching Protocols");
            return false;
        }
        // Interim response (100 Continue, 103 Early Hints): the real one follows.
        state_ = State::Head;
        return true;
    }

    bool keep_alive = minor == 1;
    for (const auto& [k, v] : resp.headers) {
        if (iequals(k, "connection")) {
            if (lists_token(v, "close")) {
                keep_alive = false;
            } else if (lists_token(v, "keep-alive")) {
                keep_alive = true;
            }
        }
    }
    keep_alive_ = keep_alive;

    const std::string* te = nullptr;
    const std::string* cl = nullptr;
    for (const auto& [k, v] : resp.headers) {
        if (iequals(k, "transfer-encoding")) {
            te = &v;
        } else if (iequals(k, "content-length")) {
            if (cl != nullptr && *cl != v) {
                fail("conflicting Content-Length headers");
                return false;
            }
            cl = &v;
        }
    }
    response_ = std::move(resp);

    if (head_request_ || code == 204 || code == 304) {
        state_ = State::Done;
        return true;
    }
    if (te != nullptr) {
        // Transfer-Encoding wins over Content-Length (RFC 9112 6.3).
        if (iequals(last_token(*te), "chunked")) {
            state_ = State::ChunkSize;
        } else {
            state_ = State::UntilClose;
            keep_alive_ = false;
        }
        return true;
    }
    if (cl != nullptr) {
        const std::string_view v = *cl;
        std::size_t n = 0;
        const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || ec != std::errc{} || p != v.data() + v.size()) {
            fail("invalid Content-Length \"" + printable(v) + "\"");
            return false;
        }
        if (n > limits_.max_body_bytes) {
            fail("response body of " + std::to_string(n) + " bytes is over the limit of " +
                 std::to_string(limits_.max_body_bytes));
            return false;
        }
        remaining_ = n;
        state_ = n == 0 ? State::Done : State::Length;
        return true;
    }
    state_ = State::UntilClose;
    keep_alive_ = false;
    return true;
}

ResponseParseStatus HttpResponseParser::run() {
    for (;;) {
        switch (state_) {
        case State::Head: {
            // Tolerate blank lines before a status line (some servers send a
            // stray CRLF after a body).
            while (pos_ < buf_.size() && (buf_[pos_] == '\r' || buf_[pos_] == '\n')) {
                ++pos_;
            }
            std::size_t end = buf_.find("\r\n\r\n", pos_);
            std::size_t skip = 4;
            const std::size_t lf = buf_.find("\n\n", pos_);
            if (lf != std::string::npos && (end == std::string::npos || lf < end)) {
                end = lf;
                skip = 2;
            }
            if (end == std::string::npos) {
                // Up to 3 bytes may be the start of the terminator: a head of
                // max_header_bytes fed in pieces must pass as it does whole.
                if (buf_.size() - pos_ > limits_.max_header_bytes + 3) {
                    return fail("response head larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
                }
                buf_.erase(0, pos_);
                pos_ = 0;
                return status_;
            }
            if (end - pos_ > limits_.max_header_bytes) {
                return fail("response head larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
            }
            const std::string head = buf_.substr(pos_, end - pos_);
            pos_ = end + skip;
            if (!parse_head(head)) {
                return status_;
            }
            break;
        }
        case State::Length: {
            const std::size_t n = std::min(remaining_, buf_.size() - pos_);
            response_.body.append(buf_, pos_, n);
            pos_ += n;
            remaining_ -= n;
            if (remaining_ == 0) {
                state_ = State::Done;
                break;
            }
            buf_.clear();
            pos_ = 0;
            return status_;
        }
        case State::ChunkSize: {
            std::string_view line;
            if (!take_line(line)) {
                if (buf_.size() - pos_ > 1024) {
                    return fail("chunk size line too long");
                }
                buf_.erase(0, pos_);
                pos_ = 0;
                return status_;
            }
            const auto semi = line.find(';');
            const std::string_view hex = trim(line.substr(0, semi));
            std::size_t size = 0;
            const auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
            if (hex.empty() || ec != std::errc{} || p != hex.data() + hex.size()) {
                return fail("invalid chunk size \"" + printable(line) + "\"");
            }
            if (size > limits_.max_body_bytes ||
                (!streaming() && response_.body.size() + size > limits_.max_body_bytes)) {
                return fail("response body over the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
            }
            if (size == 0) {
                state_ = State::Trailers;
            } else {
                remaining_ = size;
                state_ = State::ChunkData;
            }
            break;
        }
        case State::ChunkData: {
            const std::size_t n = std::min(remaining_, buf_.size() - pos_);
            response_.body.append(buf_, pos_, n);
            pos_ += n;
            remaining_ -= n;
            if (remaining_ > 0) {
                buf_.clear();
                pos_ = 0;
                return status_;
            }
            state_ = State::ChunkDataEnd;
            break;
        }
        case State::ChunkDataEnd: {
            // Exactly CRLF (or a bare LF) must follow the chunk data.
            if (pos_ < buf_.size() && buf_[pos_] == '\n') {
                pos_ += 1;
            } else if (pos_ < buf_.size() && buf_[pos_] == '\r') {
                if (pos_ + 1 >= buf_.size()) {
                    buf_.erase(0, pos_);
                    pos_ = 0;
                    return status_;
                }
                if (buf_[pos_ + 1] != '\n') {
                    return fail("chunk not followed by CRLF");
                }
                pos_ += 2;
            } else if (pos_ < buf_.size()) {
                return fail("chunk not followed by CRLF");
            } else {
                buf_.clear();
                pos_ = 0;
                return status_;
            }
            state_ = State::ChunkSize;
            break;
        }
        case State::Trailers: {
            std::string_view line;
            if (!take_line(line)) {
                if (trailer_bytes_ + (buf_.size() - pos_) > limits_.max_header_bytes) {
                    return fail("trailers larger than " + std::to_string(limits_.max_header_bytes) + " bytes");
                }
                buf_.erase(0, pos_);
                pos_ = 0;
                return status_;
            }
            if (line.empty()) {
                state_ = State::Done;
                break;
            }
            // Trailers are read and dropped: no sink needs them.
            trailer_bytes_ += line.size() + 2;
            if (++trailer_lines_ > limits_.max_headers || trailer_bytes_ > limits_.max_header_bytes) {
                return fail("too many trailers");
            }
            break;
        }
        case State::UntilClose: {
            const std::size_t n = buf_.size() - pos_;
            if (!streaming() && response_.body.size() + n > limits_.max_body_bytes) {
                return fail("response body over the limit of " + std::to_string(limits_.max_body_bytes) + " bytes");
            }
            response_.body.append(buf_, pos_, n);
            buf_.clear();
            pos_ = 0;
            return status_;
        }
        case State::Done: {
            status_ = ResponseParseStatus::Complete;
            if (pos_ < buf_.size()) {
                trailing_ = buf_.substr(pos_, 64);
                keep_alive_ = false;
            }
            buf_.clear();
            pos_ = 0;
            return status_;
        }
        case State::Failed:
            return status_;
        }
    }
}

namespace {

constexpr std::int64_t kMaxRetryAfter = 86400;

// A run of exactly `n` digits at `v[at]`.
std::optional<unsigned> digits(std::string_view v, std::size_t at, std::size_t n) {
    if (at + n > v.size()) {
        return std::nullopt;
    }
    unsigned out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
        if (v[i] < '0' || v[i] > '9') {
            return std::nullopt;
        }
        out = out * 10 + static_cast<unsigned>(v[i] - '0');
    }
    return out;
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view v, std::int64_t now_unix) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    if (v.empty()) {
        return std::nullopt;
    }
    if (v.front() >= '0' && v.front() <= '9') {
        std::int64_t n = 0;
        for (char c : v) {
            if (c < '0' || c > '9') {
                return std::nullopt;
            }
            n = std::min<std::int64_t>(n * 10 + (c - '0'), kMaxRetryAfter);
        }
        return std::chrono::seconds(n);
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", 29 bytes.
    static constexpr std::string_view kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (v.size() != 29 || v.substr(3, 2) != ", " || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
        v[19] != ':' || v[22] != ':' || v.substr(25) != " GMT") {
        return std::nullopt;
    }
    const auto day = digits(v, 5, 2);
    const auto year = digits(v, 12, 4);
    const auto hour = digits(v, 17, 2);
    const auto minute = digits(v, 20, 2);
    const auto second = digits(v, 23, 2);
    const std::size_t month = kMonths.find(v.substr(8, 3));
    if (!day || !year || !hour || !minute || !second || month == std::string_view::npos || month % 3 != 0 ||
        *day < 1 || *day > 31 || *hour > 23 || *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    const std::int64_t at = decoders::days_from_civil(*year, static_cast<unsigned>(month / 3 + 1), *day) * 86400 +
                            *hour * 3600 + *minute * 60 + *second;
    return std::chrono::seconds(std::clamp<std::int64_t>(at - now_unix, 0, kMaxRetryAfter));
}

std::optional<std::chrono::seconds> retry_after(const HttpClientResponse& r, std::int64_t now_unix) {
    const std::string* h = r.header("Retry-After");
    return h != nullptr ? parse_retry_after(*h, now_unix) : std::nullopt;
}

}  // namespace sluice::net
