// Fuzzes the incremental HTTP request parser. Every input is parsed twice,
// once in one piece and once in chunks whose sizes come from the input, and
// both must yield the same requests: incremental feeding must not change the
// meaning of a byte stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_parser.hpp"
#include "net/http_server.hpp"

namespace {

using sluice::net::HttpParserLimits;
using sluice::net::HttpRequest;
using sluice::net::HttpRequestParser;
using sluice::net::ParseStatus;

struct Outcome {
    std::vector<HttpRequest> requests;
    int error_status = 0;
};

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

// Feeds `data` in pieces of the given sizes (cycled), taking every request.
Outcome run(std::string_view data, const std::vector<std::size_t>& pieces, const HttpParserLimits& limits) {
    HttpRequestParser parser(limits);
    Outcome out;
    std::size_t piece = 0;
    while (!data.empty()) {
        const std::size_t n = std::min(data.size(), pieces[piece++ % pieces.size()]);
        std::string_view chunk = data.substr(0, n);
        data.remove_prefix(n);
        for (;;) {
            const auto r = parser.feed(chunk);
            check(r.consumed <= chunk.size());
            chunk.remove_prefix(r.consumed);
            if (r.status == ParseStatus::Error) {
                check(r.error_status >= 400 && r.error_status <= 599);
                check(!r.error.empty());
                out.error_status = r.error_status;
                return out;
            }
            if (r.status == ParseStatus::NeedMore) {
                check(chunk.empty());
                break;
            }
            HttpRequest req = parser.take();
            check(req.body.size() <= limits.max_body_bytes);
            check(!req.method.empty() && !req.path.empty());
            out.requests.push_back(std::move(req));
            if (out.requests.size() > 64) {
                return out;
            }
        }
    }
    return out;
}

bool same(const HttpRequest& a, const HttpRequest& b) {
    return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query &&
           a.headers == b.headers && a.body == b.body && a.version_minor == b.version_minor &&
           a.keep_alive == b.keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // Small limits so the fuzzer reaches 413/414/431 without huge inputs.
    HttpParserLimits limits;
    limits.max_header_bytes = 2048;
    limits.max_body_bytes = 4096;
    limits.max_headers = 16;

    // The first byte picks the chunk pattern; the rest is the stream.
    const std::uint8_t seed = data[0];
    const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::vector<std::size_t> pieces = {1u + seed % 7u, 1u, 2u + seed % 13u, 1u + seed};

    const Outcome whole = run(stream, {stream.size() + 1}, limits);
    const Outcome chunked = run(stream, pieces, limits);
    check(whole.error_status == chunked.error_status);
    check(whole.requests.size() == chunked.requests.size());
    for (std::size_t i = 0; i < whole.requests.size(); ++i) {
        check(same(whole.requests[i], chunked.requests[i]));
    }

    // Use what was parsed the way a handler would.
    for (const auto& req : whole.requests) {
        (void)req.header("host");
        (void)req.query_param("x");
        sluice::net::HttpResponse resp;
        resp.headers.emplace_back(req.method, req.path);  // unsafe names and values must be dropped
        resp.body = req.body;
        std::string wire;
        sluice::net::serialize_response(resp, req.method == "HEAD", req.keep_alive, req.version_minor, wire);
        check(wire.find("\r\n\r\n") != std::string::npos);
    }
    return 0;
}
