// libsluice's public API (src/embed/include/sluice/sluice.hpp): a gateway
// built from TOML or in code, pushes into callback sources that return once
// committed, callback sinks whose confirmations move the cursor, reload,
// stop and start again on the same buffer, stats.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sluice/sluice.hpp"

namespace se = sluice::embed;
using namespace std::chrono_literals;

namespace {

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/sluice-embed-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string& str() const { return path_; }

private:
    std::string path_;
};

// What a callback sink got, waited on by the test.
class Received {
public:
    se::BatchResult take(std::span<const se::Record> batch) {
        std::lock_guard lk(mu_);
        for (const auto& r : batch) {
            records_.push_back(r);
        }
        cv_.notify_all();
        return se::BatchResult::all(batch.size());
    }
    // Waits (bounded) until at least n records came; returns them.
    std::vector<se::Record> wait_for(std::size_t n) {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, 30s, [&] { return records_.size() >= n; });
        return records_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<se::Record> records_;
};

se::Config pass_through(const std::string& data_dir) {
    se::Config c;
    c.set("gateway", "data_dir", data_dir);
    c.pipeline_option("p", "batch_max_delay", "10ms");
    c.source("p", "callback", {{"id", "in"}, {"decode", std::vector<std::string>{"json", "record"}}});
    c.sink("p", "callback", {{"id", "out"}, {"retry_initial", "10ms"}});
    return c;
}

std::int64_t as_int(const se::Value* v) {
    if (v == nullptr) {
        return -1;
    }
    if (const auto* i = std::get_if<std::int64_t>(v)) {
        return *i;
    }
    if (const auto* d = std::get_if<double>(v)) {
        return static_cast<std::int64_t>(*d);
    }
    return -1;
}

}  // namespace

TEST(Embed, VersionIsTheHeaders) {
    EXPECT_EQ(se::api_version(), SLUICE_EMBED_API_VERSION);
    EXPECT_FALSE(se::library_version().empty());
}

TEST(Embed, ConfigInCodeIsTomlForTheOneParser) {
    se::Config c;
    c.set("gateway", "id", "gw \"1\"");
    c.pipeline_option("p", "batch_max_records", 100);
    c.source("p", "callback", {{"id", "in"}});
    c.stage("p", "filter", {{"where", "v > 1.5"}});
    c.sink("p", "callback", {{"id", "out"}});
    const std::string t = c.toml();
    EXPECT_NE(t.find("[gateway]\nid = \"gw \\\"1\\\"\"\n"), std::string::npos) << t;
    EXPECT_NE(t.find("[pipelines.p]\nbatch_max_records = 100\n"), std::string::npos) << t;
    EXPECT_NE(t.find("[[pipelines.p.stages]]\ntype = \"filter\"\nwhere = \"v > 1.5\"\n"), std::string::npos) << t;

    // Dots separate levels; text given as a pointer is copied when set.
    se::Config d;
    {
        std::string dir = "/tmp/x";
        d.set("gateway", "data_dir", dir.c_str());
        dir.assign(64, '!');
    }
    d.set("tables.devices", "key", "id");
    d.pipeline_option("p", "buffer.retain", "24h");
    d.set("gateway", "odd key", true);
    const std::string u = d.toml();
    EXPECT_NE(u.find("data_dir = \"/tmp/x\"\n"), std::string::npos) << u;
    EXPECT_NE(u.find("[tables.devices]\nkey = \"id\"\n"), std::string::npos) << u;
    EXPECT_NE(u.find("[pipelines.p]\nbuffer.retain = \"24h\"\n"), std::string::npos) << u;
    EXPECT_NE(u.find("\"odd key\" = true\n"), std::string::npos) << u;
}

TEST(Embed, ConfigErrorsNameTheKey) {
    se::Config c;
    c.source("p", "callback", {{"max_waiting", "lots"}});
    c.sink("p", "callback");
    try {
        (void)se::Gateway::from_config(c);
        FAIL() << "a wrong option type was accepted";
    } catch (const se::Error& e) {
        EXPECT_NE(std::string(e.what()).find("max_waiting"), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)se::Gateway::from_toml("[pipelines.p\n"), se::Error);
}

TEST(Embed, PushReturnsCommittedAndTheSinkGetsRecords) {
    TempDir dir;
    auto gw = se::Gateway::from_config(pass_through(dir.str()));
    Received got;
    gw.on_batch("p/out", [&](std::span<const se::Record> b) { return got.take(b); });
    gw.start();
    EXPECT_TRUE(gw.running());

    const se::PushResult r = gw.push("p/in", R"({"v":1})", "dev/1");
    ASSERT_TRUE(r.committed()) << r.message;
    EXPECT_EQ(r.frames, 1u);
    const std::vector<std::string> more{R"({"v":2})", R"({"v":3})"};
    ASSERT_TRUE(gw.push("p", more).committed());  // the pipeline's only callback source

    se::Record rec;
    rec.time_ns = 1'700'000'000'000'000'000;
    rec.measurement = "m";
    rec.tags = {{"room", "a"}};
    rec.fields = {{"v", std::int64_t{4}}, {"ok", true}, {"s", std::string("x")}};
    ASSERT_TRUE(gw.push_records("", std::span<const se::Record>(&rec, 1)).committed());

    const auto records = got.wait_for(4);
    ASSERT_EQ(records.size(), 4u);
    EXPECT_EQ(as_int(records[0].field("v")), 1);
    EXPECT_EQ(records[0].origin, "dev/1");
    EXPECT_EQ(as_int(records[2].field("v")), 3);
    EXPECT_EQ(records[3].time_ns, rec.time_ns);
    EXPECT_EQ(records[3].measurement, "m");
    ASSERT_NE(records[3].tag("room"), nullptr);
    EXPECT_EQ(*records[3].tag("room"), "a");
    EXPECT_EQ(as_int(records[3].field("v")), 4);
    EXPECT_EQ(std::get<bool>(*records[3].field("ok")), true);

    const se::Stats s = gw.stats();
    EXPECT_TRUE(s.running);
    EXPECT_EQ(s.records_in, 4u);
    ASSERT_EQ(s.pipelines.size(), 1u);
    EXPECT_EQ(s.pipelines[0].name, "p");
    EXPECT_NE(gw.metrics().find("sluice_"), std::string::npos);

    EXPECT_EQ(gw.push("p/nope", "{}").status, se::PushStatus::NoSource);
    EXPECT_EQ(gw.push("p/in", std::span<const std::string>{}).status, se::PushStatus::Invalid);
    gw.stop();
    EXPECT_FALSE(gw.running());
    EXPECT_EQ(gw.push("p/in", "{}").status, se::PushStatus::Stopping);
}

TEST(Embed, OnlyConfirmedRecordsLeaveTheBuffer) {
    TempDir dir;
    Received got;
    std::atomic<int> calls{0};
    {
        auto gw = se::Gateway::from_config(pass_through(dir.str()));
        // Confirms one record of the first batch and fails the rest, then
        // throws once: both come again.
        gw.on_batch("p/out", [&](std::span<const se::Record> b) -> se::BatchResult {
            const int n = calls++;
            if (n == 0) {
                got.take(b.first(1));
                return se::BatchResult::retry(1, "the far side took one");
            }
            if (n == 1) {
                throw std::runtime_error("the far side is down");
            }
            return got.take(b);
        });
        const std::vector<std::string> frames{R"({"v":1})", R"({"v":2})", R"({"v":3})"};
        gw.start();
        ASSERT_TRUE(gw.push("p/in", frames).committed());
        const auto records = got.wait_for(3);
        ASSERT_EQ(records.size(), 3u);
        EXPECT_EQ(as_int(records[0].field("v")), 1);
        EXPECT_EQ(as_int(records[1].field("v")), 2);
        EXPECT_EQ(as_int(records[2].field("v")), 3);
        EXPECT_GE(calls.load(), 3);
    }

    // Committed while no handler is registered: they wait in the buffer,
    // and a later start (a new Gateway on the same data directory) delivers them.
    {
        auto gw = se::Gateway::from_config(pass_through(dir.str()));
        gw.start();
        ASSERT_TRUE(gw.push("p/in", R"({"v":4})").committed());
        gw.stop(0ms);
    }
    {
        auto gw = se::Gateway::from_config(pass_through(dir.str()));
        gw.on_batch("p/out", [&](std::span<const se::Record> b) { return got.take(b); });
        gw.start();
        const auto records = got.wait_for(4);
        ASSERT_EQ(records.size(), 4u);
        EXPECT_EQ(as_int(records[3].field("v")), 4);
    }
}

TEST(Embed, OneGatewayPerProcessAndReload) {
    TempDir dir;
    Received got;
    Received got_q;  // declared before the gateway: its handler uses it until the gateway stopped
    auto a = se::Gateway::from_config(pass_through(dir.str()));
    a.on_batch("p/out", [&](std::span<const se::Record> batch) { return got.take(batch); });
    a.start();
    auto b = se::Gateway::from_config(pass_through(dir.str()));
    EXPECT_THROW(b.start(), se::Error);

    // A wrong configuration is refused, with the reason, and the running one stays.
    try {
        a.reload_toml("[pipelines.p]\nbatch_max_delay = \"soon\"\n");
        ADD_FAILURE() << "a wrong configuration was applied";
    } catch (const se::Error& e) {
        EXPECT_NE(std::string(e.what()).find("batch_max_delay"), std::string::npos) << e.what();
    }
    ASSERT_TRUE(a.push("p/in", "{\"v\":1}").committed());
    EXPECT_EQ(as_int(got.wait_for(1).at(0).field("v")), 1);

    // A new pipeline is added; the unchanged one keeps running.
    se::Config next = pass_through(dir.str());
    next.source("q", "callback", {{"id", "in"}});
    next.sink("q", "callback", {{"id", "out"}});
    a.on_batch("q/out", [&](std::span<const se::Record> batch) { return got_q.take(batch); });
    a.reload(next);
    ASSERT_TRUE(a.push("q/in", "{\"v\":7}").committed());
    EXPECT_EQ(as_int(got_q.wait_for(1).at(0).field("v")), 7);
    EXPECT_EQ(a.stats().pipelines.size(), 2u);
}

TEST(Embed, HandlersOfAGatewayThatDoesNotRunStayOut) {
    TempDir dir;
    Received got;
    auto running = se::Gateway::from_config(pass_through(dir.str()));
    running.on_batch("p/out", [&](std::span<const se::Record> b) { return got.take(b); });
    running.start();
    {
        // Prepared, never started, then dropped: the running gateway keeps its handler.
        auto idle = se::Gateway::from_config(pass_through(dir.str()));
        idle.on_batch("p/out", [](std::span<const se::Record>) { return se::BatchResult::retry(0, "not me"); });
    }
    ASSERT_TRUE(running.push("p/in", R"({"v":1})").committed());
    EXPECT_EQ(as_int(got.wait_for(1).at(0).field("v")), 1);
}

TEST(Embed, HandlersMayPushButNotStop) {
    TempDir dir;
    se::Config c = pass_through(dir.str());
    c.source("q", "callback", {{"id", "in"}, {"decode", std::vector<std::string>{"json"}}});
    c.sink("q", "callback", {{"id", "out"}, {"retry_initial", "10ms"}});
    Received got;
    std::atomic<bool> stop_refused{false};
    auto gw = se::Gateway::from_config(c);
    // p's handler forwards each record to pipeline q, and tries to stop the gateway.
    gw.on_batch("p/out", [&](std::span<const se::Record> batch) -> se::BatchResult {
        try {
            gw.stop();
        } catch (const se::Error&) {
            stop_refused = true;
        }
        for (const auto& r : batch) {
            const auto res = gw.push("q/in", "{\"v\":" + std::to_string(as_int(r.field("v")) * 10) + "}");
            if (!res.committed()) {
                return se::BatchResult::retry(0, res.message);
            }
        }
        return se::BatchResult::all(batch.size());
    });
    gw.on_batch("q/out", [&](std::span<const se::Record> b) { return got.take(b); });
    gw.start();
    ASSERT_TRUE(gw.push("p/in", R"({"v":2})").committed());
    EXPECT_EQ(as_int(got.wait_for(1).at(0).field("v")), 20);
    EXPECT_TRUE(stop_refused.load());
    EXPECT_TRUE(gw.running());
}

TEST(Embed, PushesGoOnDuringAReloadAndEndWithAStop) {
    TempDir dir;
    Received got;
    auto gw = se::Gateway::from_config(pass_through(dir.str()));
    gw.on_batch("p/out", [&](std::span<const se::Record> b) { return got.take(b); });
    gw.start();
    std::atomic<bool> done{false};
    std::mutex mu;
    std::condition_variable cv;
    int committed = 0;  // under mu
    std::thread pusher([&] {
        while (!done) {
            const auto r = gw.push("p/in", R"({"v":1})");
            if (r.committed()) {
                std::lock_guard lk(mu);
                ++committed;
                cv.notify_all();
            } else if (r.status != se::PushStatus::Busy && r.status != se::PushStatus::Stopping) {
                ADD_FAILURE() << "push: " << r.message;
                return;
            }
        }
    });
    // Waits (bounded) until `n` more pushes were committed.
    auto more_committed = [&](int n) {
        std::unique_lock lk(mu);
        const int from = committed;
        return cv.wait_for(lk, 30s, [&] { return committed >= from + n; });
    };
    EXPECT_TRUE(more_committed(20));
    // A reload that changes the pipeline (it is rebuilt) while pushes go on,
    // and they go on after it.
    se::Config changed = pass_through(dir.str());
    changed.pipeline_option("p", "batch_max_records", 500);
    gw.reload(changed);
    EXPECT_TRUE(more_committed(20));
    int before_stop = 0;
    {
        std::lock_guard lk(mu);
        before_stop = committed;
    }
    got.wait_for(static_cast<std::size_t>(before_stop));
    gw.stop(std::chrono::milliseconds(2000));
    done = true;
    pusher.join();
    EXPECT_EQ(gw.push("p/in", "{}").status, se::PushStatus::Stopping);
}

TEST(Embed, PushTimeoutBoundsTheWait) {
    TempDir dir;
    se::Config c = pass_through(dir.str());
    // A small buffer that blocks when full, and a sink that never confirms.
    c.pipeline_option("p", "buffer.max_bytes", "64KiB");
    c.pipeline_option("p", "buffer.overflow", "block");
    auto gw = se::Gateway::from_config(c);
    gw.on_batch("p/out", [](std::span<const se::Record>) { return se::BatchResult::retry(0, "down"); });
    gw.push_timeout(std::chrono::milliseconds(300));
    gw.start();
    const std::string big = "{\"s\":\"" + std::string(16 * 1024, 'x') + "\"}";
    se::PushStatus last = se::PushStatus::Committed;
    for (int i = 0; i < 200 && last == se::PushStatus::Committed; ++i) {
        last = gw.push("p/in", big).status;
    }
    EXPECT_EQ(last, se::PushStatus::TimedOut);
    gw.stop(std::chrono::milliseconds(0));
}
