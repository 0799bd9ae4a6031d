// The gateway lifecycle (src/runtime/lifecycle.*) driven directly, without
// signals, HTTP or a network: simulate sources, file sinks and a fake sink
// that can be down or refuse to be built, in a temporary data directory.
// Start then stop joins every thread and delivers what was accepted; a
// reload that is rejected or cannot be built leaves the old pipelines
// running; a reload restarts only the pipelines whose configuration changed;
// a stop during a sink outage returns within shutdown_timeout.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "core/ioloop.hpp"
#include "core/registry.hpp"
#include "buffer/table_store.hpp"
#include "runtime/lifecycle.hpp"
#include "tables/tables.hpp"
#include "runtime_test_util.hpp"

namespace sluice {
namespace {

using namespace sluice::test;

// A sink whose far side is down (`down = true`: every send throws) or that
// cannot be built at all (`broken = true`: a ConfigError, as a factory
// reports options that do not fit together).
class OutageSink final : public Sink {
public:
    explicit OutageSink(bool down) : down_(down) {}
    SendResult send(std::span<const Record> batch) override {
        if (down_) {
            throw std::runtime_error("link down");
        }
        SendResult r;
        r.confirmed = batch.size();
        return r;
    }
    bool healthy(std::string& reason) override {
        if (down_) {
            reason = "link down";
        }
        return !down_;
    }

private:
    bool down_;
};

const Registry& lifecycle_registry() {
    static const Registry registry = [] {
        static const Descriptor outage{
            .kind = Kind::Sink,
            .name = "outage",
            .summary = "A test sink that is down or cannot be built.",
            .options = {{.name = "down", .type = OptionType::Bool, .default_value = "false", .doc = "Sends fail."},
                        {.name = "broken", .type = OptionType::Bool, .default_value = "false",
                         .doc = "The factory refuses."}},
            .make_sink = [](const Options& o) -> std::unique_ptr<Sink> {
                if (o.boolean("broken")) {
                    throw ConfigError("broken on purpose");
                }
                return std::make_unique<OutageSink>(o.boolean("down"));
            },
        };
        Registry r;
        for (const Descriptor* d : builtin_registry().all()) {
            r.add(*d);
        }
        r.add(outage);
        return r;
    }();
    return registry;
}

std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) {
        ++n;
    }
    return n;
}

std::size_t line_count(const fs::path& p) {
    std::ifstream in(p);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
    }
    return n;
}

class LifecycleTest : public ::testing::Test {
protected:
    LifecycleTest() {
        loop.start();
        tables.set_store_factory([this] { return open_table_store(dir.path() / "tables.db"); });
    }
    ~LifecycleTest() override { loop.stop(); }

    std::string header(const std::string& timeout = "10s") const {
        return fmt::format("[gateway]\ndata_dir = \"{}\"\nshutdown_timeout = \"{}\"\n", dir.path().string(), timeout);
    }
    // A pipeline from a simulate source to a file sink.
    std::string sim_to_file(const std::string& name, double rate, std::int64_t count = 0,
                            const std::string& extra_sink = "") const {
        return fmt::format(
            "[[pipelines.{0}.sources]]\ntype = \"simulate\"\nrate = {1}\ncount = {2}\n"
            "[[pipelines.{0}.sinks]]\ntype = \"file\"\npath = \"{3}\"\nfsync = false\n{4}",
            name, rate, count, out(name).string(), extra_sink);
    }
    fs::path out(const std::string& name) const { return dir.path() / (name + ".ndjson"); }

    GatewayConfig load(const std::string& toml) {
        Diagnostics diag;
        auto c = load_config_text(toml, "test.toml", lifecycle_registry(), diag);
        if (!c) {
            ADD_FAILURE() << diag.str();
            return {};
        }
        return std::move(*c);
    }
    GatewayLifecycle::Loader loader(const std::string& toml) {
        return [toml](Diagnostics& diag) { return load_config_text(toml, "test.toml", lifecycle_registry(), diag); };
    }
    bool keeps_committing(GatewayLifecycle& life, const std::string& name) {
        const auto before = life.records_committed(name);
        return wait_for([&] { return life.records_committed(name) > before; });
    }

    TempDir dir;
    IoLoop loop;
    Tables tables;
};

TEST_F(LifecycleTest, StartThenStopJoinsEveryThreadAndDeliversWhatWasAccepted) {
    const std::string p = unique_label("once");
    const std::size_t before = thread_count();
    {
        GatewayLifecycle life(loop, tables);
        life.start(load(header() + sim_to_file(p, 5000, 300)));
        EXPECT_EQ(life.size(), 1u);
        EXPECT_GT(thread_count(), before);  // worker and sink runner
        ASSERT_TRUE(wait_for([&] { return life.all_sources_finished(); }));
        ASSERT_TRUE(wait_for([&] { return life.records_committed(p) == 300; }));
        life.stop(std::chrono::steady_clock::time_point::max());
        EXPECT_EQ(life.size(), 0u);
    }
    EXPECT_EQ(thread_count(), before);
    EXPECT_EQ(line_count(out(p)), 300u);
}

TEST_F(LifecycleTest, StopWhileSourcesRunCommitsAndDeliversEverythingAccepted) {
    const std::string p = unique_label("running");
    const std::size_t before = thread_count();
    GatewayLifecycle life(loop, tables);
    life.start(load(header() + sim_to_file(p, 2000)));
    ASSERT_TRUE(wait_for([&] { return life.records_committed(p) >= 50; }));
    life.stop(life.deadline());
    EXPECT_EQ(thread_count(), before);
    // Everything committed reached the sink: a new start sees an empty backlog.
    const auto delivered = line_count(out(p));
    EXPECT_GE(delivered, 50u);
    auto buf = Buffer::open(BufferOptions{.path = dir.path() / (p + ".sqlite"), .sinks = {"file"}});
    EXPECT_TRUE(buffered_seqs(*buf, "file").empty());
}

TEST_F(LifecycleTest, RejectedReloadKeepsTheOldPipelinesAndReportsTheError) {
    const std::string p = unique_label("keep");
    GatewayLifecycle life(loop, tables);
    life.start(load(header() + sim_to_file(p, 500)));
    const auto gen = life.generation(p);
    ASSERT_TRUE(keeps_committing(life, p));

    const auto report = life.reload(loader(header() + sim_to_file(p, 100) + "rate_typo = 3\n"));
    EXPECT_EQ(report.outcome, ReloadReport::Outcome::Rejected);
    EXPECT_NE(report.error.find("rate_typo"), std::string::npos) << report.error;
    EXPECT_GE(report.error_count, 1u);
    EXPECT_EQ(life.generation(p), gen);
    EXPECT_TRUE(keeps_committing(life, p));
    life.stop(life.deadline());
}

// A component that fails to build (here a sink factory) is found before
// anything stops, as `validate` finds it: the reload is rejected and every
// running pipeline goes on untouched (not torn down and restarted).
TEST_F(LifecycleTest, ReloadThatCannotBeBuiltIsRejectedBeforeAnythingStops) {
    const std::string p = unique_label("revert");
    const std::string q = unique_label("other");
    GatewayLifecycle life(loop, tables);
    life.start(load(header() + sim_to_file(p, 500) + sim_to_file(q, 500)));
    const auto gen_p = life.generation(p);
    const auto gen_q = life.generation(q);

    const auto report = life.reload(load(header() + sim_to_file(p, 500, 0, "[[pipelines." + p +
                                                                              ".sinks]]\ntype = \"outage\"\nbroken = true\n") +
                                         sim_to_file(q, 500)));
    EXPECT_EQ(report.outcome, ReloadReport::Outcome::Rejected);
    EXPECT_NE(report.error.find("broken on purpose"), std::string::npos) << report.error;
    EXPECT_EQ(life.names(), (std::vector<std::string>{p, q}));
    EXPECT_EQ(life.generation(p), gen_p);  // unchanged: never stopped
    EXPECT_EQ(life.generation(q), gen_q);
    EXPECT_EQ(life.config().pipelines[0].sinks.size(), 1u);  // the previous configuration
    EXPECT_TRUE(keeps_committing(life, p));
    EXPECT_TRUE(keeps_committing(life, q));
    life.stop(life.deadline());
}

TEST_F(LifecycleTest, ReloadRestartsOnlyThePipelineThatChanged) {
    const std::string a = unique_label("a");
    const std::string b = unique_label("b");
    const std::string c = unique_label("c");
    GatewayLifecycle life(loop, tables);
    life.start(load(header() + sim_to_file(a, 500) + sim_to_file(b, 500) + sim_to_file(c, 500)));
    const auto gen_a = life.generation(a);
    const auto gen_b = life.generation(b);

    // `a` moves down the file (other positions, same options): still unchanged.
    const std::string d = unique_label("d");
    const auto report =
        life.reload(load("# moved\n\n" + header() + sim_to_file(a, 500) + sim_to_file(b, 250) + sim_to_file(d, 500)));
    ASSERT_EQ(report.outcome, ReloadReport::Outcome::Applied) << report.error;
    EXPECT_EQ(report.kept, (std::vector<std::string>{a}));
    EXPECT_EQ(report.restarted, (std::vector<std::string>{b}));
    EXPECT_EQ(report.added, (std::vector<std::string>{d}));
    EXPECT_EQ(report.removed, (std::vector<std::string>{c}));
    EXPECT_EQ(life.names(), (std::vector<std::string>{a, b, d}));
    EXPECT_EQ(life.generation(a), gen_a);
    EXPECT_NE(life.generation(b), gen_b);
    EXPECT_EQ(life.generation(c), 0u);
    EXPECT_TRUE(keeps_committing(life, a));
    EXPECT_TRUE(keeps_committing(life, b));
    EXPECT_TRUE(keeps_committing(life, d));
    life.stop(life.deadline());
}

TEST_F(LifecycleTest, UnchangedReloadRestartsNothing) {
    const std::string a = unique_label("same-a");
    const std::string b = unique_label("same-b");
    const std::string toml = header() + sim_to_file(a, 500) + sim_to_file(b, 500);
    GatewayLifecycle life(loop, tables);
    life.start(load(toml));
    const auto gen_a = life.generation(a);
    const auto gen_b = life.generation(b);
    const auto report = life.reload(loader(toml));
    ASSERT_EQ(report.outcome, ReloadReport::Outcome::Applied) << report.error;
    EXPECT_TRUE(report.restarted.empty());
    EXPECT_TRUE(report.added.empty());
    EXPECT_TRUE(report.removed.empty());
    EXPECT_EQ(report.kept, (std::vector<std::string>{a, b}));
    EXPECT_EQ(life.generation(a), gen_a);
    EXPECT_EQ(life.generation(b), gen_b);
    life.stop(life.deadline());
}

TEST_F(LifecycleTest, StopDuringASinkOutageReturnsWithinShutdownTimeout) {
    const std::string p = unique_label("outage");
    const std::size_t before = thread_count();
    GatewayLifecycle life(loop, tables);
    life.start(load(header("300ms") +
                    fmt::format("[[pipelines.{0}.sources]]\ntype = \"simulate\"\nrate = 1000\n"
                                "[[pipelines.{0}.sinks]]\ntype = \"outage\"\ndown = true\n",
                                p)));
    ASSERT_TRUE(wait_for([&] {
        return life.sample(INT64_MAX, true).sinks_retrying == 1 && life.records_committed(p) > 0;
    }));
    const auto t0 = std::chrono::steady_clock::now();
    life.stop(life.deadline());
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 300ms + 5s);  // the bound plus room for a slow machine; without it, never
    EXPECT_EQ(life.size(), 0u);
    EXPECT_EQ(thread_count(), before);
    // What the sink did not take stays buffered.
    auto buf = Buffer::open(BufferOptions{.path = dir.path() / (p + ".sqlite"), .sinks = {"outage"}});
    EXPECT_FALSE(buffered_seqs(*buf, "outage").empty());
}

}  // namespace
}  // namespace sluice
