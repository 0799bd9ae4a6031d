// The http source: a request is answered 200 only once the worker reported
// the commit of all its frames (in request order); beyond max_waiting
// requests waiting: 503 with Retry-After; frames that do not fit in the
// ingest queue wait in the source; a stopping source answers 503.

#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/push_endpoints.hpp"

namespace sluice::components {
const Descriptor& source_http();
}  // namespace sluice::components

namespace sluice::testing {
namespace {

class FakeIngest final : public Ingest {
public:
    std::size_t room = 1000;
    std::size_t try_push(std::vector<Frame>& frames) override {
        const std::size_t n = std::min(room, frames.size());
        for (std::size_t i = 0; i < n; ++i) {
            taken.push_back(std::move(frames[i]));
        }
        room -= n;
        frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(n));
        return n;
    }
    bool push_wait(Frame&&) override { return false; }
    bool push_all_wait(std::vector<Frame>&) override { return false; }
    void when_space(std::uint32_t, std::function<void()> fn) override { space = std::move(fn); }
    std::vector<Frame> taken;
    std::function<void()> space;
};

struct Fixture {
    explicit Fixture(std::string max_waiting) {
        RawTable t{text_entry("max_waiting", std::move(max_waiting))};
        Diagnostics diag;
        Options o = resolve_options(components::source_http().options, t, "source 'http'", {}, diag);
        EXPECT_TRUE(diag.empty()) << diag.str();
        src = components::source_http().make_source(o);
        ctx.name = "push/in";
        ctx.index = 2;
        ctx.ingest = &ingest;
        ctx.metrics = &cm;
        ctx.commit_soon = [this] { ++commit_soon; };
        src->start(ctx);
    }
    ~Fixture() { src->stop(); }

    // Sends `body` and records the answer's status (0 while unanswered).
    int& send(std::string body, bool ndjson = false, std::string key = "") {
        answers.push_back(std::make_unique<int>(0));
        int* slot = answers.back().get();
        std::string error;
        EXPECT_TRUE(push_endpoints().dispatch("push", "", PushRequest{std::move(body), ndjson, std::move(key)},
                                              [slot](PushAnswer a) { *slot = a.status; }, &error))
            << error;
        return *slot;
    }

    FakeIngest ingest;
    ComponentMetrics cm = ComponentMetrics::for_component("push/in", "source");
    SourceContext ctx;
    std::unique_ptr<Source> src;
    int commit_soon = 0;
    std::vector<std::unique_ptr<int>> answers;
};

TEST(HttpSource, AnswersOnlyAfterTheCommitOfAllItsFrames) {
    Fixture f("8");
    int& one = f.send("{\"a\":1}", false, "room/1");
    int& batch = f.send("{\"b\":1}\n\n{\"b\":2}\r\n{\"b\":3}", true);
    ASSERT_EQ(f.ingest.taken.size(), 4u);
    EXPECT_EQ(f.ingest.taken[0].origin, "room/1");
    EXPECT_EQ(f.ingest.taken[1].origin, "http");
    EXPECT_EQ(f.ingest.taken[2].payload, "{\"b\":2}");
    EXPECT_EQ(f.ingest.taken[3].source, 2u);
    EXPECT_GE(f.commit_soon, 2);
    EXPECT_EQ(one, 0);
    EXPECT_EQ(batch, 0);
    f.ctx.committed(2);  // the single frame and the batch's first
    EXPECT_EQ(one, 200);
    EXPECT_EQ(batch, 0);
    f.ctx.committed(1);
    EXPECT_EQ(batch, 0);
    f.ctx.committed(1);
    EXPECT_EQ(batch, 200);
}

TEST(HttpSource, BoundsWaitingRequestsAndEmptyBodies) {
    Fixture f("2");
    int& a = f.send("1");
    int& b = f.send("2");
    int& c = f.send("3");
    EXPECT_EQ(c, 503);
    EXPECT_EQ(f.send(""), 400);
    EXPECT_EQ(f.send("\n\n", true), 400);
    f.ctx.committed(1);
    EXPECT_EQ(a, 200);
    int& d = f.send("4");
    EXPECT_EQ(d, 0);
    EXPECT_EQ(f.ingest.taken.size(), 3u);
    f.ctx.committed(2);
    EXPECT_EQ(b, 200);
    EXPECT_EQ(d, 200);
}

TEST(HttpSource, FramesWaitForRoomAndStopAnswers503) {
    Fixture f("8");
    f.ingest.room = 1;
    int& a = f.send("1\n2\n3", true);
    EXPECT_EQ(f.ingest.taken.size(), 1u);
    ASSERT_TRUE(f.ingest.space);
    f.ingest.room = 10;
    f.ingest.space();
    EXPECT_EQ(f.ingest.taken.size(), 3u);
    int& b = f.send("4");
    f.ctx.committed(3);
    EXPECT_EQ(a, 200);
    EXPECT_EQ(b, 0);
    f.src->stop();
    EXPECT_EQ(b, 503);
    std::string error;
    EXPECT_FALSE(push_endpoints().dispatch("push", "", PushRequest{"5"}, [](PushAnswer) {}, &error));
}

}  // namespace
}  // namespace sluice::testing
