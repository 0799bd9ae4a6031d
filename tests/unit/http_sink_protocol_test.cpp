// The http sink's pure parts (src/sinks/http/http_sink_protocol.*): bodies
// cut at max_body, what each status means, header lines and path templates.
#include <gtest/gtest.h>

#include "sinks/http/http_sink_protocol.hpp"

namespace sluice::http_sink {
namespace {

Record reading(int seq) {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000;
    r.measurement = "climate";
    r.tags = {{"node", "n1"}};
    r.fields = {{"seq", std::int64_t{seq}}};
    return r;
}

TEST(HttpSinkBody, ArrayAndLinesAndTheirContentTypes) {
    BodyFormat f;
    BodyBuilder b(f);
    std::string err;
    ASSERT_EQ(b.add(reading(1), &err), BodyBuilder::Added::Yes);
    ASSERT_EQ(b.add(reading(2), &err), BodyBuilder::Added::Yes);
    const std::string array = b.take();
    EXPECT_EQ(array.front(), '[');
    EXPECT_EQ(array.back(), ']');
    EXPECT_NE(array.find("},{"), std::string::npos) << array;
    EXPECT_EQ(b.records(), 0u);
    EXPECT_EQ(default_content_type(f), "application/json");

    f.framing = Framing::Lines;
    BodyBuilder lines(f);
    ASSERT_EQ(lines.add(reading(1), &err), BodyBuilder::Added::Yes);
    ASSERT_EQ(lines.add(reading(2), &err), BodyBuilder::Added::Yes);
    const std::string ndjson = lines.take();
    EXPECT_EQ(std::count(ndjson.begin(), ndjson.end(), '\n'), 2);
    EXPECT_EQ(ndjson.front(), '{');
    EXPECT_EQ(default_content_type(f), "application/x-ndjson");

    f.format = payload::Format::Influx;
    BodyBuilder influx(f);
    ASSERT_EQ(influx.add(reading(7), &err), BodyBuilder::Added::Yes);
    EXPECT_EQ(influx.take(), "climate,node=n1 seq=7i 1700000000000000000\n");
    EXPECT_EQ(default_content_type(f), "text/plain; charset=utf-8");
}

TEST(HttpSinkBody, CutAtMaxBodyAndALargeRecordGoesAlone) {
    BodyFormat f;
    BodyBuilder one(f);
    std::string err;
    one.add(reading(1), &err);
    const std::size_t single = one.take().size();  // "[{...}]"
    f.max_body = 2 * single;                        // two records fit ("[a,b]" is 2*single - 1 bytes)
    BodyBuilder b(f);
    ASSERT_EQ(b.add(reading(1), &err), BodyBuilder::Added::Yes);
    ASSERT_EQ(b.add(reading(2), &err), BodyBuilder::Added::Yes);
    ASSERT_EQ(b.add(reading(3), &err), BodyBuilder::Added::Full);
    const std::string body = b.take();
    EXPECT_LE(body.size(), f.max_body);
    EXPECT_EQ(body.find("\"seq\":3"), std::string::npos);
    f.max_body = 1;  // smaller than any record: each still goes, alone
    BodyBuilder tiny(f);
    ASSERT_EQ(tiny.add(reading(3), &err), BodyBuilder::Added::Yes);
    ASSERT_EQ(tiny.add(reading(4), &err), BodyBuilder::Added::Full);
    EXPECT_EQ(tiny.records(), 1u);
}

TEST(HttpSinkBody, ARecordTheFormatCannotCarryIsRefusedAndLeavesTheBody) {
    BodyFormat f;
    f.format = payload::Format::Influx;
    f.framing = Framing::Lines;
    BodyBuilder b(f);
    std::string err;
    ASSERT_EQ(b.add(reading(1), &err), BodyBuilder::Added::Yes);
    Record empty = reading(2);
    empty.fields.clear();
    EXPECT_EQ(b.add(empty, &err), BodyBuilder::Added::Refused);
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(b.records(), 1u);
    EXPECT_EQ(b.take(), "climate,node=n1 seq=1i 1700000000000000000\n");
}

TEST(HttpSinkStatus, WhatEachAnswerMeans) {
    for (int s : {200, 201, 202, 204, 299}) {
        EXPECT_EQ(verdict_for(s), Verdict::Delivered) << s;
    }
    for (int s : {100, 301, 302, 307, 401, 403, 407, 408, 429, 500, 502, 503, 504, 599, 600, 999}) {
        EXPECT_EQ(verdict_for(s), Verdict::Retry) << s;
    }
    EXPECT_EQ(verdict_for(413), Verdict::Split);
    for (int s : {400, 404, 405, 409, 415, 422, 451, 499}) {
        EXPECT_EQ(verdict_for(s), Verdict::Refuse) << s;
    }
}

TEST(HttpSinkHeaders, NameValueLinesAndWhatIsRefused) {
    std::string err;
    auto h = parse_header_line("X-Source :  sluice gw ", false, &err);
    ASSERT_TRUE(h) << err;
    EXPECT_EQ(h->first, "X-Source");
    EXPECT_EQ(h->second, "sluice gw");
    EXPECT_TRUE(parse_header_line("X-Empty:", false, &err));
    for (const char* bad : {"no colon", ": value", "Bad Name: x", "X-A: a\r\nX-B: b", "content-length: 5",
                            "Host: elsewhere", "Content-Type: text/csv", "authorization: Bearer x"}) {
        err.clear();
        EXPECT_FALSE(parse_header_line(bad, false, &err)) << bad;
        EXPECT_FALSE(err.empty()) << bad;
    }
    EXPECT_NE(err.find("secret"), std::string::npos) << err;
    EXPECT_TRUE(parse_header_line("Authorization: Bearer x", true, &err));
}

TEST(HttpSinkPath, DotSegmentsAreFoundPlainOrEncoded) {
    for (const char* dots : {"/t/../x", "/t/./x", "/..", "/a/%2E%2e/b", "/a/.%2E", "/a/..?q=1", "/%2e"}) {
        EXPECT_TRUE(has_dot_segment(dots)) << dots;
    }
    for (const char* fine : {"/", "/a.b/c", "/.../x", "/a/x?up=..", "/%2E%2E%2E", "/a//b", "/v1.2"}) {
        EXPECT_FALSE(has_dot_segment(fine)) << fine;
    }
}

TEST(HttpSinkPath, AUrlPathIsEncodedAgain) {
    EXPECT_EQ(path_from_url("/a b/{node}/100%"), "/a%20b/{node}/100%25");
    EXPECT_EQ(path_from_url("/q?x#y"), "/q%3Fx%23y");
    std::string err;
    EXPECT_TRUE(valid_path_template(path_from_url("/caf\xc3\xa9 bar"), &err)) << err;
}

TEST(HttpSinkBody, ARawPayloadWithALineBreakCannotGoOnePerLine) {
    BodyFormat f;
    f.format = payload::Format::Raw;
    f.framing = Framing::Lines;
    BodyBuilder b(f);
    std::string err;
    Record r = reading(1);
    r.fields.push_back({"payload", std::string("one\ntwo")});
    EXPECT_EQ(b.add(r, &err), BodyBuilder::Added::Refused);
    EXPECT_NE(err.find("line break"), std::string::npos) << err;
    r.fields.back().value = std::string("one two");
    EXPECT_EQ(b.add(r, &err), BodyBuilder::Added::Yes);
    EXPECT_EQ(b.take(), "one two\n");
}

TEST(HttpSinkHeaders, ValuesWithoutControlCharacters) {
    EXPECT_TRUE(valid_header_value("text/plain; charset=utf-8"));
    EXPECT_TRUE(valid_header_value("a\tb"));
    EXPECT_FALSE(valid_header_value("text/plain\r\nX: y"));
    EXPECT_FALSE(valid_header_value(std::string_view("a\0b", 3)));
    EXPECT_FALSE(valid_header_value("a\x7f"));
}

TEST(HttpSinkPath, LiteralTextMustBeARequestPath) {
    std::string err;
    EXPECT_TRUE(valid_path_template("/", &err));
    EXPECT_TRUE(valid_path_template("/ingest/{node}?src=gw%201&x={measurement}", &err));
    for (const char* bad : {"", "ingest", "/a b", "/a#frag", "/caf\xc3\xa9", "/tab\there", "/a/../b"}) {
        err.clear();
        EXPECT_FALSE(valid_path_template(bad, &err)) << bad;
        EXPECT_FALSE(err.empty());
    }
}

}  // namespace
}  // namespace sluice::http_sink
