#pragma once
// An incremental HTTP/1.1 response parser with no I/O, so it can be unit
// tested and fuzzed on its own. Understands Content-Length, chunked and
// read-until-close bodies, bodiless responses (HEAD, 1xx, 204, 304), and
// skips interim 1xx responses (100 Continue).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "net/http_client.hpp"

namespace sluice::net {

struct HttpResponseLimits {
    std::size_t max_header_bytes = 64 * 1024;  // status line + headers (+ trailers)
    std::size_t max_headers = 100;
    std::size_t max_body_bytes = 16u << 20;
};

enum class ResponseParseStatus { NeedMore, Complete, Error };

class HttpResponseParser {
public:
    explicit HttpResponseParser(HttpResponseLimits limits = {});

    // Starts a new response. `head_request`: the request was HEAD, so the
    // response has no body whatever its headers say.
    void begin(bool head_request);

    // Feeds received bytes. After Complete or Error further input is
    // ignored (bytes after a complete response are kept as `trailing`).
    ResponseParseStatus feed(std::string_view data);

    // The peer closed the connection: completes a read-until-close body,
    // otherwise the response is truncated (Error).
    ResponseParseStatus finish();

    // A streamed body (Server-Sent Events): for a 2xx response the body is
    // taken piece by piece with take_body() and no body limit applies. Call
    // after begin().
    void stream_body() { stream_ = true; }
    // The status code once the head was parsed (0 before).
    int status_code() const { return response_.status; }
    // The body bytes parsed since the last call (streamed bodies).
    std::string take_body() { return std::exchange(response_.body, std::string()); }

    ResponseParseStatus status() const { return status_; }
    bool received_any() const { return received_any_; }
    // Whether the connection may carry another request after this response.
    bool keep_alive() const { return keep_alive_; }
    // Bytes that arrived after the complete response (a confused peer: the
    // client never pipelines), so the connection must not be reused.
    bool has_trailing_data() const { return !trailing_.empty(); }
    const std::string& error() const { return error_; }

    HttpClientResponse take() { return std::move(response_); }

private:
    enum class State { Head, Length, ChunkSize, ChunkData, ChunkDataEnd, Trailers, UntilClose, Done, Failed };

    ResponseParseStatus fail(std::string why);
    ResponseParseStatus run();
    bool parse_head(std::string_view head);  // sets state_ for the body
    bool take_line(std::string_view& line);  // a CRLF (or LF) terminated line from buf_

    HttpResponseLimits limits_;
    bool streaming() const { return stream_ && response_.status >= 200 && response_.status <= 299; }

    bool head_request_ = false;
    bool stream_ = false;
    State state_ = State::Head;
    ResponseParseStatus status_ = ResponseParseStatus::NeedMore;
    bool received_any_ = false;
    bool keep_alive_ = false;
    std::string buf_;       // unparsed input
    std::size_t pos_ = 0;   // parsed prefix of buf_
    std::size_t remaining_ = 0;  // bytes left in the body or current chunk
    std::size_t trailer_bytes_ = 0;
    std::size_t trailer_lines_ = 0;
    std::string trailing_;
    std::string error_;
    HttpClientResponse response_;
};

// The wait a response's Retry-After header asks for (RFC 9110 10.2.3):
// delay-seconds, or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT")
// counted from `now_unix` (a date in the past is no wait). Nullopt when the
// header is absent or unreadable; at most a day.
std::optional<std::chrono::seconds> retry_after(const HttpClientResponse& r, std::int64_t now_unix);
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::int64_t now_unix);

}  // namespace sluice::net
