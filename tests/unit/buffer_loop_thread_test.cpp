// The I/O loop thread never runs SQLite: every entry point of the buffer and
// the table store (open, prepare, exec, step, close) goes through one check
// (src/buffer/sqlite.cpp). On a loop thread it counts the call in
// sluice_loop_sqlite_calls_total; in builds with assertions (not NDEBUG:
// the dev, asan and tsan presets) it also fails an assert, release builds
// only count.

#include <filesystem>
#include <functional>
#include <span>
#include <string_view>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "buffer/buffer.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/table_store.hpp"
#include "core/ioloop.hpp"
#include "temp_dir.hpp"

namespace sluice {
namespace {

using test::TempDir;

std::vector<Record> rows(std::size_t n) {
    std::vector<Record> out;
    for (std::size_t i = 0; i < n; ++i) {
        Record r;
        r.time_ns = 1'700'000'000'000'000'000 + static_cast<TimeNs>(i);
        r.measurement = "env";
        r.fields = {{"seq", static_cast<std::int64_t>(i)}};
        out.push_back(std::move(r));
    }
    return out;
}

BufferOptions options(const TempDir& dir) {
    BufferOptions o;
    o.path = dir.path() / "pipe.sqlite";
    o.sinks = {"a"};
    return o;
}

// Turns the assert off for a test that runs SQLite on the loop on purpose.
class CountOnly {
public:
    CountOnly() : was_(buffer_detail::set_loop_sqlite_asserts(false)) {}
    ~CountOnly() { buffer_detail::set_loop_sqlite_asserts(was_); }

private:
    bool was_;
};

// Every kind of entry point, each on the loop thread, each counted.
TEST(BufferLoopThread, EverySqliteEntryPointOnTheLoopIsCounted) {
    CountOnly count_only;
    TempDir dir;
    auto buf = Buffer::open(options(dir));
    ASSERT_TRUE(buf->append(rows(10), {}, {}).ok);
    auto rd = buf->reader("a");
    IoLoop loop;
    loop.start();
    auto counted = [&](const char* what, const std::function<void()>& fn) {
        const std::uint64_t before = buffer_detail::loop_sqlite_calls();
        loop.call(fn);
        EXPECT_GT(buffer_detail::loop_sqlite_calls(), before) << what;
    };
    counted("a reader's read", [&] { EXPECT_EQ(rd->read(100).size(), 10u); });
    counted("a reader's commit", [&] { rd->commit(5); });
    counted("an append", [&] { EXPECT_TRUE(buf->append(rows(1), {}, {}).ok); });
    counted("the checkpoints", [&] { (void)buf->load_checkpoints(); });
    counted("closing a reader", [&] { rd.reset(); });
    counted("opening a buffer", [&] { buf.reset(); buf = Buffer::open(options(dir)); });
    counted("closing a buffer", [&] { buf.reset(); });
    std::unique_ptr<TableStore> store;
    counted("opening the table store", [&] { store = open_table_store(dir.path() / "tables.db"); });
    counted("a table store write", [&] {
        TableStore::Change c;
        c.table = "t";
        c.key = "k";
        c.json = "{\"v\":1}";
        store->write(std::span<const TableStore::Change>(&c, 1));
    });
    counted("a table store load", [&] { store->load("t", [](std::string_view, std::string_view) {}); });
    counted("closing the table store", [&] { store.reset(); });
    loop.stop();
}

// Off the loop nothing is counted: the same work on this thread.
TEST(BufferLoopThread, OffTheLoopNothingIsCounted) {
    TempDir dir;
    const std::uint64_t before = buffer_detail::loop_sqlite_calls();
    {
        auto buf = Buffer::open(options(dir));
        ASSERT_TRUE(buf->append(rows(10), {}, {}).ok);
        auto rd = buf->reader("a");
        EXPECT_EQ(rd->read(100).size(), 10u);
        auto store = open_table_store(dir.path() / "tables.db");
        store->load("t", [](std::string_view, std::string_view) {});
    }
    EXPECT_EQ(buffer_detail::loop_sqlite_calls(), before);
}

#ifdef NDEBUG
// Release builds only count: the process goes on.
TEST(BufferLoopThread, ReleaseBuildsOnlyCount) {
    TempDir dir;
    auto buf = Buffer::open(options(dir));
    ASSERT_TRUE(buf->append(rows(3), {}, {}).ok);
    auto rd = buf->reader("a");
    const std::uint64_t before = buffer_detail::loop_sqlite_calls();
    IoLoop loop;
    loop.start();
    std::size_t got = 0;
    loop.call([&] { got = rd->read(100).size(); });
    loop.stop();
    EXPECT_EQ(got, 3u);
    EXPECT_GT(buffer_detail::loop_sqlite_calls(), before);
}
#else
// Builds with assertions stop at the first such call.
TEST(BufferLoopThreadDeathTest, BuildsWithAssertionsFailAnAssert) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    TempDir dir;
    auto buf = Buffer::open(options(dir));
    ASSERT_TRUE(buf->append(rows(3), {}, {}).ok);
    auto rd = buf->reader("a");
    EXPECT_DEATH(
        {
            // The "threadsafe" style runs this test again in a child that
            // dies here, before its TempDir's destructor: remove the child's
            // directory first (the open connection keeps its files readable).
            std::error_code ec;
            std::filesystem::remove_all(dir.path(), ec);
            IoLoop loop;
            loop.start();
            loop.call([&] { (void)rd->read(100); });
            loop.stop();
        },
        "SQLite on an I/O loop thread");
}
#endif

}  // namespace
}  // namespace sluice
