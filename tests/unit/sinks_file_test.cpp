// The file sink: output written after the last confirmed batch (whose
// cursor move a crash lost) is cut when the batch is sent again, so nothing
// appears twice; bytes someone else added are never cut; a second writer
// is refused.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/options.hpp"
#include "core/record_json.hpp"
#include "core/registry.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace sluice;

namespace {

using sluice::test::TempDir;

std::unique_ptr<Sink> make_sink(const std::string& path, const std::string& max_size = "0") {
    const Descriptor* d = builtin_registry().find(Kind::Sink, "file");
    EXPECT_NE(d, nullptr);
    Diagnostics diag;
    RawTable t = {text_entry("path", path), text_entry("max_size", max_size)};
    Options o = resolve_options(d->options, t, "sink 'file'", SourcePos{}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return d->make_sink(o);
}

std::vector<Record> batch(int from, int n) {
    std::vector<Record> out;
    for (int i = from; i < from + n; ++i) {
        Record r;
        r.measurement = "m";
        r.time_ns = 1'000'000'000LL * (i + 1);
        r.fields.push_back(Field{"seq", static_cast<std::int64_t>(i)});
        out.push_back(std::move(r));
    }
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string ndjson(int from, int n) {
    std::string out;
    for (const auto& r : batch(from, n)) {
        append_record_json(out, r);
        out += '\n';
    }
    return out;
}

void append(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::app);
    f << text;
}

int lines(const std::string& path) {
    const std::string s = slurp(path);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST(FileSink, CutsOutputWrittenAfterTheLastConfirmedBatch) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    std::string confirmed_state;
    {
        auto sink = make_sink(out);
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        auto r1 = sink->send(batch(0, 3));
        ASSERT_EQ(r1.confirmed, 3u);
        ASSERT_TRUE(r1.state.has_value());
        confirmed_state = *r1.state;
        // The second batch is written, but the crash loses its cursor move.
        auto r2 = sink->send(batch(3, 2));
        ASSERT_EQ(r2.confirmed, 2u);
    }
    ASSERT_EQ(lines(out), 5);
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, confirmed_state};
    sink->open(ctx);
    auto r = sink->send(batch(3, 2));  // sent again: the old copy is cut first
    EXPECT_EQ(r.confirmed, 2u);
    EXPECT_EQ(slurp(out), ndjson(0, 5));
}

TEST(FileSink, AnUnconfirmedBatchIsCutWhenALargerBatchFollows) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    std::string confirmed_state;
    {
        auto sink = make_sink(out);
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        confirmed_state = *sink->send(batch(0, 3)).state;
        sink->send(batch(3, 2));  // never confirmed
    }
    // Half a line more, as a crash in the middle of a write leaves it.
    append(out, ndjson(5, 1).substr(0, 10));
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, confirmed_state};
    sink->open(ctx);
    ASSERT_EQ(sink->send(batch(3, 5)).confirmed, 5u);
    EXPECT_EQ(slurp(out), ndjson(0, 8));
}

TEST(FileSink, LinesAddedBySomeoneElseAreNeverCut) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    std::string confirmed_state;
    {
        auto sink = make_sink(out);
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        confirmed_state = *sink->send(batch(0, 3)).state;
    }
    append(out, "written by hand\n");
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, confirmed_state};
    sink->open(ctx);
    ASSERT_EQ(sink->send(batch(3, 2)).confirmed, 2u);
    EXPECT_EQ(slurp(out), ndjson(0, 3) + "written by hand\n" + ndjson(3, 2));
}

TEST(FileSink, AForeignLineWithoutLineBreakKeepsItsOwnLine) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, ""};
    sink->open(ctx);
    ASSERT_EQ(sink->send(batch(0, 2)).confirmed, 2u);
    append(out, "no line break");  // while the sink runs
    auto r = sink->send(batch(2, 2));
    ASSERT_EQ(r.confirmed, 2u);
    EXPECT_EQ(slurp(out), ndjson(0, 2) + "no line break\n" + ndjson(2, 2));
    // The confirmed mark covers everything in the file, the foreign bytes too.
    EXPECT_NE(r.state->find(" " + std::to_string(fs::file_size(out))), std::string::npos) << *r.state;
}

TEST(FileSink, AReplacedFileIsAppendedToNotCut) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    std::string confirmed_state;
    {
        auto sink = make_sink(out);
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        confirmed_state = *sink->send(batch(0, 3)).state;
    }
    fs::rename(out, out + ".old");
    append(out, "someone else's\nfile\n");
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, confirmed_state};
    sink->open(ctx);
    ASSERT_EQ(sink->send(batch(3, 1)).confirmed, 1u);
    EXPECT_EQ(slurp(out), "someone else's\nfile\n" + ndjson(3, 1));
    EXPECT_EQ(slurp(out + ".old"), ndjson(0, 3));
}

TEST(FileSink, AFileMovedAwayWhileRunningIsFollowed) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, ""};
    sink->open(ctx);
    ASSERT_EQ(sink->send(batch(0, 2)).confirmed, 2u);
    fs::rename(out, out + ".moved");  // logrotate without copytruncate
    ASSERT_EQ(sink->send(batch(2, 2)).confirmed, 2u);
    EXPECT_EQ(slurp(out + ".moved"), ndjson(0, 2));
    EXPECT_EQ(slurp(out), ndjson(2, 2));
}

TEST(FileSink, ASecondWriterOfTheSameFileIsRefused) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    auto first = make_sink(out);
    SinkContext ctx{"p/file", nullptr, ""};
    first->open(ctx);
    auto second = make_sink(out);
    SinkContext ctx2{"q/file", nullptr, ""};
    try {
        second->open(ctx2);
        FAIL() << "the second sink opened a file in use";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("in use by another sluice"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(out), std::string::npos) << e.what();
    }
    first->close();
    EXPECT_NO_THROW(second->open(ctx2));  // free again
}

TEST(FileSink, RotationAfterTheLastConfirmedBatchIsUndone) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    std::string confirmed_state;
    {
        // Full after the first three records: rotates before the next batch.
        auto sink = make_sink(out, std::to_string(ndjson(0, 3).size()));
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        auto r1 = sink->send(batch(0, 3));
        confirmed_state = *r1.state;
        sink->send(batch(3, 2));  // goes to a new file after rotating; never confirmed
    }
    ASSERT_EQ(lines(out + ".1"), 3);
    ASSERT_EQ(lines(out), 2);
    auto sink = make_sink(out, std::to_string(ndjson(0, 3).size()));
    SinkContext ctx{"p/file", nullptr, confirmed_state};
    sink->open(ctx);
    // Sent again: the new file's copy is cut first, then written again.
    ASSERT_EQ(sink->send(batch(3, 2)).confirmed, 2u);
    EXPECT_EQ(slurp(out), ndjson(3, 2));
    EXPECT_EQ(slurp(out + ".1"), ndjson(0, 3));
}

// A batch larger than what is left before max_size is split: the file ends
// with the first record that reaches it, the rest are confirmed by the next
// send, into the next file.
TEST(FileSink, ABatchIsSplitAtMaxSize) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    auto sink = make_sink(out, std::to_string(ndjson(0, 4).size() - 1));
    SinkContext ctx{"p/file", nullptr, ""};
    sink->open(ctx);
    auto r = sink->send(batch(0, 10));
    EXPECT_TRUE(r.error.empty()) << r.error;
    ASSERT_EQ(r.confirmed, 4u);
    r = sink->send(batch(4, 6));
    ASSERT_EQ(r.confirmed, 4u);
    r = sink->send(batch(8, 2));
    ASSERT_EQ(r.confirmed, 2u);
    EXPECT_EQ(slurp(out + ".2"), ndjson(0, 4));
    EXPECT_EQ(slurp(out + ".1"), ndjson(4, 4));
    EXPECT_EQ(slurp(out), ndjson(8, 2));
}

TEST(FileSink, WithoutStateNothingIsCut) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    {
        auto sink = make_sink(out);
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        sink->send(batch(0, 4));
    }
    auto sink = make_sink(out);
    SinkContext ctx{"p/file", nullptr, "garbage"};
    sink->open(ctx);
    ASSERT_EQ(sink->send(batch(4, 1)).confirmed, 1u);
    EXPECT_EQ(slurp(out), ndjson(0, 5));
}
