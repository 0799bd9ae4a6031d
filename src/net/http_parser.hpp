#pragma once
// Incremental HTTP/1.x request parser. It owns no socket: bytes go in, and
// out comes a complete request, "need more", or an error with the status
// code to answer. Being pure, it is what the fuzz target exercises.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/url.hpp"
#include "text/text.hpp"

namespace sluice::net {

struct HttpRequest {
    std::string method;
    std::string target;  // as sent: "/a%20b?x=1"
    std::string path;    // percent-decoded: "/a b"
    std::string query;   // raw, without '?': "x=1"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int version_minor = 1;  // HTTP/1.<minor>
    // Whether the connection stays open after the response: HTTP/1.1 unless
    // "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
    bool keep_alive = true;

    // First header with that name, compared case-insensitively.
    const std::string* header(std::string_view name) const;
    // First query parameter with that key, percent-decoded ('+' is a space).
    // A key without '=' gives an empty string.
    std::optional<std::string> query_param(std::string_view key) const;
};

// What logs show of a request's path: the path, or for one that holds a
// marker given to hide_path_in_logs ("/keys/", compared without case,
// anywhere in the path: also a mistyped "/API//keys/x"), the path up to
// the marker and "..." (its rest names a person). Thread-safe.
std::string logged_path(const HttpRequest& req);
void hide_path_in_logs(std::string marker);

struct HttpParserLimits {
    std::size_t max_header_bytes = 16 * 1024;  // request line + headers
    std::size_t max_body_bytes = 1024 * 1024;
    std::size_t max_headers = 100;
};

enum class ParseStatus { NeedMore, Complete, Error };

struct ParseResult {
    ParseStatus status = ParseStatus::NeedMore;
    // Bytes of the input taken. After Complete the rest of the input is the
    // start of the next (pipelined) request and must be fed again after take().
    std::size_t consumed = 0;
    int error_status = 0;    // 400, 413, 414, 417, 431, 501, 505 when status == Error
    std::string_view error;  // static text: why the request was refused
};

class HttpRequestParser {
public:
    explicit HttpRequestParser(HttpParserLimits limits = {});

    ParseResult feed(std::string_view data);

    // The completed request; the parser is then ready for the next one.
    // Only valid after feed() returned Complete.
    HttpRequest take();
    // Forget everything, including a sticky error.
    void reset();

    // True once the head of a request with "Expect: 100-continue" and a body
    // still to come was parsed: the server should send "100 Continue".
    bool expects_continue() const { return state_ == State::Body && expect_continue_; }
    // True once a request's head is complete and its body is still arriving
    // (the server's body deadline runs from then).
    bool in_body() const { return state_ == State::Body; }
    // True when no byte of a next request has arrived yet (nothing in flight).
    bool idle() const { return state_ == State::Head && head_.empty(); }

private:
    enum class State { Head, Body, Complete, Error };

    ParseResult fail(int status, std::string_view why, std::size_t consumed);
    // Parses head_ (request line and header lines) into req_; on failure
    // returns the status code and reason.
    std::optional<std::pair<int, std::string_view>> parse_head();

    HttpParserLimits limits_;
    State state_ = State::Head;
    std::string head_;
    std::size_t line_start_ = 0;  // where the line being received begins in head_
    std::size_t body_left_ = 0;
    bool expect_continue_ = false;
    HttpRequest req_;
    ParseResult error_;
};

// Percent-decodes `in`; nullopt on a malformed escape. With `plus_is_space`
// (query strings) '+' becomes ' '.
using sluice::percent_decode;  // core/url.hpp

}  // namespace sluice::net
