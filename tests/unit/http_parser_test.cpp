#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "net/http_parser.hpp"
#include "net/http_server.hpp"

namespace sluice::net {
namespace {

struct Outcome {
    ParseResult result;
    HttpRequest request;
};

// Feeds everything at once and takes the request if it completed.
Outcome parse_all(std::string_view data, HttpParserLimits limits = {}) {
    HttpRequestParser p(limits);
    Outcome o;
    o.result = p.feed(data);
    if (o.result.status == ParseStatus::Complete) {
        o.request = p.take();
    }
    return o;
}

int error_status(std::string_view data, HttpParserLimits limits = {}) {
    const auto o = parse_all(data, limits);
    EXPECT_EQ(o.result.status, ParseStatus::Error) << data;
    return o.result.error_status;
}

TEST(HttpParser, ParsesSimpleGet) {
    const std::string_view raw = "GET /a%20b/c?x=1&y=hello+world&z=%41&flag HTTP/1.1\r\nHost: gw\r\nX-Thing:  v a l  \r\n\r\n";
    auto o = parse_all(raw);
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.result.consumed, raw.size());
    const auto& r = o.request;
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, "/a%20b/c?x=1&y=hello+world&z=%41&flag");
    EXPECT_EQ(r.path, "/a b/c");
    EXPECT_EQ(r.query, "x=1&y=hello+world&z=%41&flag");
    EXPECT_EQ(r.version_minor, 1);
    EXPECT_TRUE(r.keep_alive);
    ASSERT_NE(r.header("HOST"), nullptr);
    EXPECT_EQ(*r.header("host"), "gw");
    ASSERT_NE(r.header("x-thing"), nullptr);
    EXPECT_EQ(*r.header("X-THING"), "v a l");
    EXPECT_EQ(r.header("missing"), nullptr);
    EXPECT_EQ(r.query_param("x"), "1");
    EXPECT_EQ(r.query_param("y"), "hello world");
    EXPECT_EQ(r.query_param("z"), "A");
    EXPECT_EQ(r.query_param("flag"), "");
    EXPECT_EQ(r.query_param("nope"), std::nullopt);
    EXPECT_TRUE(r.body.empty());
}

TEST(HttpParser, ByteByByteGivesTheSameRequest) {
    const std::string raw =
        "POST /ingest?src=a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world";
    HttpRequestParser p;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const auto r = p.feed(std::string_view(&raw[i], 1));
        ASSERT_EQ(r.consumed, 1u) << "at byte " << i;
        if (i + 1 < raw.size()) {
            ASSERT_EQ(r.status, ParseStatus::NeedMore) << "at byte " << i;
            EXPECT_FALSE(p.idle());
        } else {
            ASSERT_EQ(r.status, ParseStatus::Complete);
        }
    }
    const auto req = p.take();
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.path, "/ingest");
    EXPECT_EQ(req.query_param("src"), "a");
    EXPECT_EQ(req.body, "hello world");
    EXPECT_TRUE(p.idle());
}

TEST(HttpParser, PipelinedRequestsAreSplitExactly) {
    const std::string first = "POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    const std::string second = "GET /two HTTP/1.1\r\nHost: x\r\n\r\n";
    const std::string third = "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const std::string all = first + second + third;
    HttpRequestParser p;
    std::string_view rest = all;

    auto r = p.feed(rest);
    ASSERT_EQ(r.status, ParseStatus::Complete);
    EXPECT_EQ(r.consumed, first.size());
    rest.remove_prefix(r.consumed);
    auto a = p.take();
    EXPECT_EQ(a.path, "/one");
    EXPECT_EQ(a.body, "abc");

    r = p.feed(rest);
    ASSERT_EQ(r.status, ParseStatus::Complete);
    EXPECT_EQ(r.consumed, second.size());
    rest.remove_prefix(r.consumed);
    EXPECT_EQ(p.take().path, "/two");

    r = p.feed(rest);
    ASSERT_EQ(r.status, ParseStatus::Complete);
    EXPECT_EQ(r.consumed, third.size());
    auto c = p.take();
    EXPECT_EQ(c.path, "/three");
    EXPECT_FALSE(c.keep_alive);
}

TEST(HttpParser, CompleteWaitsForTake) {
    HttpRequestParser p;
    const std::string two = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    auto r = p.feed(two);
    ASSERT_EQ(r.status, ParseStatus::Complete);
    // Until take(), nothing more is consumed.
    const auto again = p.feed(std::string_view(two).substr(r.consumed));
    EXPECT_EQ(again.status, ParseStatus::Complete);
    EXPECT_EQ(again.consumed, 0u);
    EXPECT_EQ(p.take().path, "/a");
}

TEST(HttpParser, AcceptsBareLfAndLeadingEmptyLines) {
    auto o = parse_all("\r\n\r\nGET /x HTTP/1.1\nHost: y\n\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.path, "/x");
    EXPECT_EQ(*o.request.header("host"), "y");
}

TEST(HttpParser, AbsoluteFormAndAsterisk) {
    auto o = parse_all("GET http://gw:8080/metrics?a=b HTTP/1.1\r\nHost: gw\r\n\r\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.path, "/metrics");
    EXPECT_EQ(o.request.query, "a=b");

    o = parse_all("GET HTTP://gw HTTP/1.1\r\nHost: gw\r\n\r\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.path, "/");

    o = parse_all("OPTIONS * HTTP/1.1\r\nHost: gw\r\n\r\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.path, "*");
    EXPECT_EQ(error_status("GET * HTTP/1.1\r\nHost: gw\r\n\r\n"), 400);
}

TEST(HttpParser, ConnectionSemantics) {
    auto o = parse_all("GET / HTTP/1.0\r\n\r\n");  // no Host needed in 1.0
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.version_minor, 0);
    EXPECT_FALSE(o.request.keep_alive);

    o = parse_all("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_TRUE(o.request.keep_alive);

    o = parse_all("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, CLOSE\r\n\r\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_FALSE(o.request.keep_alive);
}

TEST(HttpParser, ContentLengthForms) {
    auto o = parse_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.body, "ok");
    o = parse_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nok");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    o = parse_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_TRUE(o.request.body.empty());
}

TEST(HttpParser, RejectsMalformedRequests) {
    struct Case {
        const char* raw;
        int status;
    };
    const Case cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 400},                                    // no Host
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},              // two Hosts
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
        {"GET / FOO/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\r\nHost: a\r\n\r\n", 400},                                  // HTTP/0.9 style
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                        // double space
        {"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},                         // bad method char
        {"GET relative HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},                        // space before colon
        {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},                      // bare CR
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\n", 417},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(error_status(c.raw), c.status) << c.raw;
    }
}

TEST(HttpParser, ErrorIsSticky) {
    HttpRequestParser p;
    auto r = p.feed("BAD\r\n\r\n");
    ASSERT_EQ(r.status, ParseStatus::Error);
    EXPECT_EQ(r.error_status, 400);
    EXPECT_FALSE(r.error.empty());
    r = p.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(r.status, ParseStatus::Error);
    EXPECT_EQ(r.consumed, 0u);
    p.reset();
    r = p.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(r.status, ParseStatus::Complete);
}

TEST(HttpParser, HeaderLimit) {
    HttpParserLimits limits;
    limits.max_header_bytes = 1024;
    std::string raw = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n";
    EXPECT_EQ(error_status(raw, limits), 431);

    // Exactly at the limit is fine.
    std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    const std::size_t pad = limits.max_header_bytes - head.size() - 4;
    head += std::string(pad, 'b') + "\r\n\r\n";
    ASSERT_EQ(head.size(), limits.max_header_bytes);
    EXPECT_EQ(parse_all(head, limits).result.status, ParseStatus::Complete);
    head.insert(head.size() - 4, "c");
    EXPECT_EQ(error_status(head, limits), 431);

    // Fed in pieces, the limit still holds and nothing grows past it.
    HttpRequestParser p(limits);
    ParseResult r;
    const std::string chunk = "X-Many: " + std::string(100, 'z') + "\r\n";
    r = p.feed("GET / HTTP/1.1\r\n");
    for (int i = 0; i < 20 && r.status == ParseStatus::NeedMore; ++i) {
        r = p.feed(chunk);
    }
    EXPECT_EQ(r.status, ParseStatus::Error);
    EXPECT_EQ(r.error_status, 431);
}

TEST(HttpParser, RequestLineLimitGives414) {
    HttpParserLimits limits;
    limits.max_header_bytes = 256;
    EXPECT_EQ(error_status("GET /" + std::string(400, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n", limits), 414);
}

TEST(HttpParser, TooManyHeaders) {
    HttpParserLimits limits;
    limits.max_headers = 5;
    std::string raw = "GET / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 6; ++i) {
        raw += "X-" + std::to_string(i) + ": v\r\n";
    }
    raw += "\r\n";
    EXPECT_EQ(error_status(raw, limits), 431);
}

TEST(HttpParser, BodyLimit) {
    HttpParserLimits limits;
    limits.max_body_bytes = 10;
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", limits), 413);
    EXPECT_EQ(error_status("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n", limits),
              413);
    auto o = parse_all("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", limits);
    ASSERT_EQ(o.result.status, ParseStatus::Complete);
    EXPECT_EQ(o.request.body, "0123456789");
}

TEST(HttpParser, ExpectContinue) {
    HttpRequestParser p;
    auto r = p.feed("PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    EXPECT_EQ(r.status, ParseStatus::NeedMore);
    EXPECT_TRUE(p.expects_continue());
    r = p.feed("abc");
    EXPECT_EQ(r.status, ParseStatus::Complete);
    EXPECT_FALSE(p.expects_continue());
    EXPECT_EQ(p.take().body, "abc");
}

TEST(HttpParser, PercentDecode) {
    EXPECT_EQ(percent_decode("a%2Fb%2fc", false), "a/b/c");
    EXPECT_EQ(percent_decode("a+b", false), "a+b");
    EXPECT_EQ(percent_decode("a+b", true), "a b");
    EXPECT_EQ(percent_decode("%", false), std::nullopt);
    EXPECT_EQ(percent_decode("%4", false), std::nullopt);
    EXPECT_EQ(percent_decode("%g0", false), std::nullopt);
}

TEST(HttpResponseFormat, HeadKeepsLengthDropsBody) {
    HttpResponse resp{200, "text/plain", {{"X-A", "1"}}, "hello"};
    std::string out;
    serialize_response(resp, true, true, 1, out);
    EXPECT_NE(out.find("HTTP/1.1 200 OK\r\n"), std::string::npos);
    EXPECT_NE(out.find("Content-Length: 5\r\n"), std::string::npos);
    EXPECT_NE(out.find("X-A: 1\r\n"), std::string::npos);
    EXPECT_NE(out.find("Date: "), std::string::npos);
    EXPECT_TRUE(out.ends_with("\r\n\r\n"));
    EXPECT_EQ(out.find("Connection:"), std::string::npos);

    out.clear();
    serialize_response(resp, false, false, 1, out);
    EXPECT_TRUE(out.ends_with("\r\n\r\nhello"));
    EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);

    out.clear();
    serialize_response(resp, false, true, 0, out);
    EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos);
}

TEST(HttpResponseFormat, DropsUnsafeAndReservedHeaders) {
    HttpResponse resp{204, "text/plain", {{"X-Evil", "a\r\nSet-Cookie: x"}, {"Content-Length", "99"},
                                          {"Bad Name", "v"}, {"Connection", "keep-alive"}, {"X-Ok", "fine"}},
                      "ignored"};
    std::string out;
    serialize_response(resp, false, true, 1, out);
    EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
    EXPECT_EQ(out.find("Content-Length"), std::string::npos);  // never on 204
    EXPECT_EQ(out.find("Bad Name"), std::string::npos);
    EXPECT_EQ(out.find("Connection"), std::string::npos);
    EXPECT_EQ(out.find("ignored"), std::string::npos);
    EXPECT_NE(out.find("X-Ok: fine\r\n"), std::string::npos);
}

}  // namespace
}  // namespace sluice::net
