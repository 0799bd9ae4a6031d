#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "text/stream_framing.hpp"

using sluice::framing::Framer;
using sluice::framing::Framing;

namespace {

std::string be32(std::uint32_t n) {
    std::string s(4, '\0');
    s[0] = static_cast<char>(n >> 24);
    s[1] = static_cast<char>(n >> 16);
    s[2] = static_cast<char>(n >> 8);
    s[3] = static_cast<char>(n);
    return s;
}

// Feeds `data` one byte at a time and returns every frame.
std::vector<std::string> bytewise(Framer& f, const std::string& data) {
    std::vector<std::string> out;
    for (char c : data) {
        auto r = f.feed(std::string_view(&c, 1));
        EXPECT_EQ(r.error, "");
        out.insert(out.end(), r.frames.begin(), r.frames.end());
    }
    return out;
}

}  // namespace

TEST(UnixFraming, LinesAcrossChunks) {
    Framer f(Framing::Line, 100);
    auto a = f.feed("{\"a\":1}\n{\"b\"");
    EXPECT_EQ(a.frames, std::vector<std::string>{"{\"a\":1}"});
    EXPECT_EQ(f.pending_bytes(), 4u);
    auto b = f.feed(":2}\r\n\n\nc=3\n");
    EXPECT_EQ(b.frames, (std::vector<std::string>{"{\"b\":2}", "c=3"}));  // CR removed, empty lines skipped
    EXPECT_TRUE(b.error.empty());
}

TEST(UnixFraming, LineByteByByteMatchesWhole) {
    const std::string data = "one\ntwo\r\nthree\n";
    Framer whole(Framing::Line, 16);
    Framer pieces(Framing::Line, 16);
    EXPECT_EQ(whole.feed(data).frames, bytewise(pieces, data));
}

TEST(UnixFraming, UnterminatedLastLineIsAFrameAtEnd) {
    Framer f(Framing::Line, 100);
    EXPECT_TRUE(f.feed("x=1").frames.empty());
    auto r = f.finish();
    EXPECT_EQ(r.frames, std::vector<std::string>{"x=1"});
    EXPECT_TRUE(r.error.empty());
}

TEST(UnixFraming, LineAtTheLimitPassesOneOverFails) {
    Framer ok(Framing::Line, 4);
    EXPECT_EQ(ok.feed("abcd\n").frames, std::vector<std::string>{"abcd"});
    Framer over(Framing::Line, 4);
    auto r = over.feed("ab\nabcde\nzz\n");
    EXPECT_EQ(r.frames, std::vector<std::string>{"ab"});  // frames before the fault still count
    EXPECT_NE(r.error.find("max_frame_bytes"), std::string::npos);
    EXPECT_TRUE(over.failed());
    // Once broken, the stream stays broken (the client is closed).
    auto again = over.feed("ok\n");
    EXPECT_TRUE(again.frames.empty());
    EXPECT_FALSE(again.error.empty());
}

TEST(UnixFraming, OversizeLineWithoutNewlineIsNoticedBeforeItEnds) {
    Framer f(Framing::Line, 8);
    EXPECT_TRUE(f.feed("12345").error.empty());
    auto r = f.feed("6789");  // 9 bytes and still no newline: not buffered any further
    EXPECT_FALSE(r.error.empty());
    EXPECT_EQ(f.pending_bytes(), 0u);
}

TEST(UnixFraming, LengthPrefixAcrossChunks) {
    Framer f(Framing::Length, 100);
    const std::string data = be32(7) + "{\"a\":1}" + be32(3) + "abc";
    EXPECT_EQ(bytewise(f, data), (std::vector<std::string>{"{\"a\":1}", "abc"}));
    Framer whole(Framing::Length, 100);
    EXPECT_EQ(whole.feed(data).frames, (std::vector<std::string>{"{\"a\":1}", "abc"}));
}

TEST(UnixFraming, LengthZeroIsSkipped) {
    Framer f(Framing::Length, 100);
    auto r = f.feed(be32(0) + be32(0) + be32(2) + "hi" + be32(0));
    EXPECT_EQ(r.frames, std::vector<std::string>{"hi"});
    EXPECT_TRUE(r.error.empty());
    EXPECT_TRUE(f.finish().error.empty());
}

TEST(UnixFraming, LengthOverLimitFails) {
    Framer f(Framing::Length, 16);
    auto r = f.feed(be32(2) + "ok" + be32(17));
    EXPECT_EQ(r.frames, std::vector<std::string>{"ok"});
    EXPECT_NE(r.error.find("17"), std::string::npos);
    Framer at(Framing::Length, 16);
    EXPECT_EQ(at.feed(be32(16) + std::string(16, 'x')).frames.size(), 1u);
    Framer huge(Framing::Length, 16);
    EXPECT_FALSE(huge.feed("\xff\xff\xff\xff").error.empty());
}

TEST(UnixFraming, LengthCutShortAtEndIsAnError) {
    Framer body(Framing::Length, 100);
    EXPECT_TRUE(body.feed(be32(5) + "ab").error.empty());
    auto r = body.finish();
    EXPECT_NE(r.error.find("2 of 5"), std::string::npos);
    Framer header(Framing::Length, 100);
    EXPECT_TRUE(header.feed(std::string("\0\0", 2)).error.empty());
    EXPECT_FALSE(header.finish().error.empty());
    Framer clean(Framing::Length, 100);
    EXPECT_TRUE(clean.feed(be32(1) + "a").error.empty());
    EXPECT_TRUE(clean.finish().error.empty());
}

TEST(UnixFraming, BinaryPayloadsPassUntouched) {
    Framer f(Framing::Length, 100);
    const std::string payload("\0\n\r\xff", 4);
    EXPECT_EQ(f.feed(be32(4) + payload).frames, std::vector<std::string>{payload});
}
