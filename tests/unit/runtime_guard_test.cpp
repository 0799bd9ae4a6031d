// The boundary of component threads and callbacks (src/core/guard.hpp):
// what escapes is counted and logged, never ends the process; a thread runs
// again after the runtime's back-off or stops when asked. Then two sources
// driven without a peer whose frame hand-off throws: the file source's
// reader thread and the simulate source's loop timer go on delivering.

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/ioloop.hpp"
#include "core/metrics.hpp"
#include "core/registry.hpp"
#include "core/guard.hpp"
#include "runtime_test_util.hpp"

namespace sluice {
namespace {

using namespace sluice::test;

TEST(Guard, CountsWhatEscapesAndSwallowsIt) {
    Counter& errors = metrics().counter("sluice_test_guard_errors_total", "test", {{"c", unique_label("g")}});
    log::OnceLog once;
    EXPECT_TRUE(guarded("test", &errors, once, [] {}));
    EXPECT_FALSE(guarded("test", &errors, once, [] { throw std::runtime_error("boom"); }));
    EXPECT_FALSE(guarded("test", &errors, once, [] { throw 42; }));  // not even a std::exception
    EXPECT_FALSE(guarded("test", nullptr, once, [] { throw std::logic_error("no counter"); }));
    EXPECT_EQ(errors.value(), 2u);
    EXPECT_TRUE(once.active());  // logged once as a warning, then at debug level
}

TEST(Guard, RestartsAThreadBodyAfterTheBackOffUntilItReturns) {
    Counter& errors = metrics().counter("sluice_test_guard_errors_total", "test", {{"c", unique_label("r")}});
    std::vector<std::chrono::nanoseconds> waits;
    int runs = 0;
    run_restarting(
        "test", &errors,
        [&](std::chrono::nanoseconds d) {
            waits.push_back(d);
            return true;
        },
        [&] {
            if (++runs < 5) {
                throw std::runtime_error("again");
            }
        },
        std::chrono::milliseconds(10), std::chrono::milliseconds(40));
    EXPECT_EQ(runs, 5);
    EXPECT_EQ(errors.value(), 4u);
    ASSERT_EQ(waits.size(), 4u);
    // The one back-off rule: 50-100 % of a step that doubles up to the max.
    const std::chrono::nanoseconds steps[] = {10ms, 20ms, 40ms, 40ms};
    for (std::size_t i = 0; i < waits.size(); ++i) {
        EXPECT_GE(waits[i], steps[i] / 2) << i;
        EXPECT_LE(waits[i], steps[i]) << i;
    }
}

TEST(Guard, AStoppingThreadEndsInsteadOfRunningAgain) {
    int runs = 0;
    run_restarting(
        "test", nullptr, [](std::chrono::nanoseconds) { return false; },
        [&] {
            ++runs;
            throw std::runtime_error("always");
        });
    EXPECT_EQ(runs, 1);
    std::atomic<bool> stop{true};
    EXPECT_FALSE(wait_unless(stop, std::chrono::hours(1)));
}

// An ingest queue whose hand-off throws its first `failures` times, as a
// bug in a decoder-side hook or an allocation failure would.
class ThrowingIngest final : public Ingest {
public:
    explicit ThrowingIngest(int failures) : failures_(failures) {}
    std::size_t try_push(std::vector<Frame>& frames) override {
        maybe_throw();
        return take(frames);
    }
    bool push_wait(Frame&& frame) override {
        maybe_throw();
        std::vector<Frame> one;
        one.push_back(std::move(frame));
        take(one);
        return true;
    }
    bool push_all_wait(std::vector<Frame>& frames) override {
        maybe_throw();
        take(frames);
        return true;
    }
    void when_space(std::uint32_t, std::function<void()>) override {}
    std::size_t taken() {
        std::lock_guard lk(mu_);
        return taken_;
    }
    int thrown() const { return thrown_.load(); }

private:
    void maybe_throw() {
        if (thrown_.load() < failures_) {
            ++thrown_;
            throw std::runtime_error("hand-off failed");
        }
    }
    std::size_t take(std::vector<Frame>& frames) {
        std::lock_guard lk(mu_);
        const std::size_t n = frames.size();
        taken_ += n;
        frames.clear();
        return n;
    }
    const int failures_;
    std::atomic<int> thrown_{0};
    std::mutex mu_;
    std::size_t taken_ = 0;
};

std::unique_ptr<Source> make_source(const std::string& type, const RawTable& table) {
    const Descriptor* d = builtin_registry().find(Kind::Source, type);
    if (d == nullptr) {
        ADD_FAILURE() << "no source " << type;
        return nullptr;
    }
    Diagnostics diag;
    Options o = resolve_options(d->options, table, "source '" + type + "'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return d->make_source(o);
}

TEST(SourceBoundary, FileReaderThreadSurvivesAThrowingHandOff) {
    TempDir dir;
    const auto path = dir.file("in.log");
    std::ofstream(path) << "one\n";
    ThrowingIngest ingest(1);
    const std::string label = unique_label("test/file");
    ComponentMetrics cm = ComponentMetrics::for_component(label, "source");
    IoLoop loop;
    loop.start();
    auto src = make_source("file", {text_entry("path", path), text_entry("poll_interval", "20ms")});
    ASSERT_TRUE(src);
    SourceContext ctx;
    ctx.name = label;
    ctx.ingest = &ingest;
    ctx.loop = &loop;
    ctx.metrics = &cm;
    ctx.load_checkpoint = [](std::string_view) { return std::nullopt; };
    ctx.finished = [] {};
    loop.call([&] { src->start(ctx); });
    ASSERT_TRUE(wait_for([&] { return ingest.thrown() == 1; }));  // "one" was lost with the hand-off
    // The thread runs again after the back-off and reads what comes next.
    std::ofstream(path, std::ios::app) << "two\nthree\n";
    EXPECT_TRUE(wait_for([&] { return ingest.taken() >= 2; }));
    EXPECT_EQ(cm.errors->value(), 1u);
    loop.call([&] { src->stop(); });
    loop.stop();
}

TEST(SourceBoundary, SimulateTimerSurvivesAThrowingHandOff) {
    ThrowingIngest ingest(3);
    const std::string label = unique_label("test/simulate");
    ComponentMetrics cm = ComponentMetrics::for_component(label, "source");
    IoLoop loop;
    loop.start();
    auto src = make_source("simulate", {text_entry("rate", "200")});
    ASSERT_TRUE(src);
    SourceContext ctx;
    ctx.name = label;
    ctx.ingest = &ingest;
    ctx.loop = &loop;
    ctx.metrics = &cm;
    ctx.load_checkpoint = [](std::string_view) { return std::nullopt; };
    ctx.finished = [] {};
    loop.call([&] { src->start(ctx); });
    // The loop thread lives on; the frames after the failures arrive.
    EXPECT_TRUE(wait_for([&] { return ingest.taken() >= 10; }));
    EXPECT_EQ(ingest.thrown(), 3);
    EXPECT_EQ(cm.errors->value(), 3u);
    loop.call([&] { src->stop(); });
    loop.stop();
}

}  // namespace
}  // namespace sluice
