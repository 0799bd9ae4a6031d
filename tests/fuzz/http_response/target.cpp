// Fuzzes the HTTP response parser. The first byte picks HEAD or not; the
// rest is parsed once whole and once in chunks whose sizes come from the
// input, and both must agree: incremental feeding must not change the
// meaning of a byte stream. finish() (peer closed) must also be safe. Bit 1
// of the first byte reads the body streamed (take_body() after each feed, as
// HttpClient::request_stream does): the pieces must add up to the same body.
// A complete response's Retry-After is read as the http sink reads it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/http_response_parser.hpp"

namespace {

using sluice::net::HttpResponseLimits;
using sluice::net::HttpResponseParser;
using sluice::net::ResponseParseStatus;

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

struct Outcome {
    ResponseParseStatus status = ResponseParseStatus::NeedMore;
    int code = 0;
    std::string body;
    std::size_t headers = 0;
    bool keep_alive = false;
};

Outcome run(std::string_view data, bool head, bool stream, std::string_view chunk_sizes) {
    HttpResponseLimits limits;
    limits.max_body_bytes = 4096;
    limits.max_header_bytes = 2048;
    HttpResponseParser p(limits);
    p.begin(head);
    if (stream) {
        p.stream_body();
    }
    std::string streamed;
    std::size_t i = 0;
    std::size_t k = 0;
    while (i < data.size()) {
        std::size_t n = data.size() - i;
        if (!chunk_sizes.empty()) {
            n = 1 + static_cast<unsigned char>(chunk_sizes[k++ % chunk_sizes.size()]) % 16;
            n = n > data.size() - i ? data.size() - i : n;
        }
        p.feed(data.substr(i, n));
        if (stream && p.status_code() >= 200 && p.status_code() <= 299) {
            streamed += p.take_body();
        }
        i += n;
    }
    Outcome o;
    o.status = p.status() == ResponseParseStatus::NeedMore ? p.finish() : p.status();
    o.keep_alive = p.keep_alive();
    if (o.status == ResponseParseStatus::Complete) {
        auto r = p.take();
        o.code = r.status;
        o.body = streamed + r.body;
        o.headers = r.headers.size();
        check(r.status >= 200 && r.status <= 999);
        check(stream || r.body.size() <= limits.max_body_bytes);
        check(!head || r.body.empty());
        // Retry-After, as the http sink reads it: bounded whatever it says.
        if (auto wait = sluice::net::retry_after(r, 1'700'000'000)) {
            check(wait->count() >= 0 && wait->count() <= 86400);
        }
    } else {
        check(!p.error().empty());
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const bool head = (data[0] & 1) != 0;
    const bool stream = (data[0] & 2) != 0;
    const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
    const Outcome whole = run(input, head, stream, {});
    const Outcome pieces = run(input, head, stream, input.substr(0, 32));
    check(whole.status == pieces.status);
    check(whole.code == pieces.code);
    check(whole.body == pieces.body);
    check(whole.headers == pieces.headers);
    check(whole.keep_alive == pieces.keep_alive);
    return 0;
}
