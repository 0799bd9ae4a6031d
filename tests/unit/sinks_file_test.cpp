// The file sink: output written after the last confirmed batch (whose
// cursor move a crash lost) is cut at start, so nothing appears twice.
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
    EXPECT_EQ(lines(out), 3);
    auto r = sink->send(batch(3, 2));  // sent again
    EXPECT_EQ(r.confirmed, 2u);
    EXPECT_EQ(lines(out), 5);
}

TEST(FileSink, RotationAfterTheLastConfirmedBatchIsUndone) {
    TempDir dir;
    const std::string out = dir.file("out.ndjson");
    std::string confirmed_state;
    {
        auto sink = make_sink(out, "1");  // rotates before every batch once the file is not empty
        SinkContext ctx{"p/file", nullptr, ""};
        sink->open(ctx);
        auto r1 = sink->send(batch(0, 3));
        confirmed_state = *r1.state;
        sink->send(batch(3, 2));  // goes to a new file after rotating; never confirmed
    }
    ASSERT_EQ(lines(out + ".1"), 3);
    ASSERT_EQ(lines(out), 2);
    auto sink = make_sink(out, "1");
    SinkContext ctx{"p/file", nullptr, confirmed_state};
    sink->open(ctx);
    EXPECT_EQ(lines(out + ".1"), 3);
    EXPECT_EQ(lines(out), 0);
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
    EXPECT_EQ(lines(out), 4);
}
