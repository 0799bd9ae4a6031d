#pragma once
// What the http sink sends and how it reads the answers, with no I/O: the
// request bodies of a batch (a JSON array or one payload per line, cut at
// max_body), the Content-Type, the configured headers checked, and what
// each status means for the records of a request.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"
#include "net/http_client.hpp"
#include "text/payload.hpp"

namespace sluice::http_sink {

enum class Framing { Array, Lines };

struct BodyFormat {
    payload::Format format = payload::Format::Json;
    std::string raw_field = "payload";
    Framing framing = Framing::Array;
    std::size_t max_body = 1u << 20;  // bytes before gzip; a record larger than this goes alone
};

// "application/json" for an array, "application/x-ndjson" for JSON lines,
// "text/plain; charset=utf-8" for line protocol, "application/octet-stream"
// for raw payloads.
std::string_view default_content_type(const BodyFormat& f);

// Builds request bodies from records one at a time. add() appends a record
// (false with `error` when it cannot be written in the format: the record
// is refused, the body stays as it was) and says, through full(), when the
// body should be sent before this record: the record then stays out, to
// start the next body after take().
class BodyBuilder {
public:
    explicit BodyBuilder(const BodyFormat& f) : f_(f) {}

    enum class Added { Yes, Full, Refused };
    Added add(const Record& r, std::string* error);
    std::size_t records() const { return records_; }
    // The finished body; the builder starts empty again.
    std::string take();

private:
    const BodyFormat& f_;
    std::string body_;
    std::size_t records_ = 0;
};

// What a status answers for the records of one request.
enum class Verdict {
    Delivered,  // 2xx
    Retry,      // 408, 429, 5xx; 401, 403 and 407 (credentials, fixed by config); 1xx, 3xx
    Split,      // 413: send the halves (a single record: refused)
    Refuse,     // other 4xx: the records are dead letters with the answer
};
Verdict verdict_for(int status);

// "Name: value" header lines from the `headers` (and `auth_header`) options.
// Nullopt with `error` for a line without ':', a name that is not an HTTP
// token, a value with CR, LF or NUL, or a header the sink sets itself (Host,
// Content-Length, Content-Type, Content-Encoding, Transfer-Encoding,
// Connection; Authorization unless `allow_authorization`).
std::optional<std::pair<std::string, std::string>> parse_header_line(std::string_view line,
                                                                     bool allow_authorization, std::string* error);

// Checks the literal text of a path template: it starts with '/', every
// byte is printable ASCII other than '#' (write spaces as %20), and no
// segment is "." or "..". Names are percent-encoded when rendered.
bool valid_path_template(std::string_view text, std::string* error);

// Whether the path of a rendered request target (before any '?') has a
// segment that is "." or ".." once percent-decoded: a name whose value
// would move the request elsewhere on the receiver.
bool has_dot_segment(std::string_view target);

// A path written in a URL, which the URL parser decoded, written as a
// request path again: bytes a path cannot hold literally ('%', '?', '#',
// spaces, control and non-ASCII bytes) percent-encoded.
std::string path_from_url(std::string_view decoded);

// A header value the sink may send: no control bytes other than tab.
bool valid_header_value(std::string_view value);

}  // namespace sluice::http_sink
