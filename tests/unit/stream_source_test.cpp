// The stream source: records published on the in-process bus arrive as
// frames the `record` decoder turns back into the same records; a full
// ingest queue drops (and counts) instead of blocking the publisher.

#include <gtest/gtest.h>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/streams.hpp"

namespace sluice::components {
const Descriptor& source_stream();
const Descriptor& decoder_record();
}  // namespace sluice::components

namespace sluice::testing {
namespace {

class FakeIngest final : public Ingest {
public:
    explicit FakeIngest(std::size_t room) : room_(room) {}
    std::size_t try_push(std::vector<Frame>& frames) override {
        std::size_t n = std::min(room_ - std::min(room_, taken.size()), frames.size());
        for (std::size_t i = 0; i < n; ++i) {
            taken.push_back(std::move(frames[i]));
        }
        frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(n));
        return n;
    }
    bool push_wait(Frame&&) override {
        ADD_FAILURE() << "the stream source must never wait";
        return false;
    }
    bool push_all_wait(std::vector<Frame>&) override {
        ADD_FAILURE() << "the stream source must never wait";
        return false;
    }
    void when_space(std::uint32_t, std::function<void()>) override {}
    std::vector<Frame> taken;

private:
    std::size_t room_;
};

Options stream_options(const std::string& name) {
    RawTable t{text_entry("stream", name)};
    Diagnostics diag;
    Options o = resolve_options(components::source_stream().options, t, "source 'stream'", {}, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return o;
}

TEST(StreamSource, RecordsArriveUnchanged) {
    FakeIngest ingest(100);
    auto src = components::source_stream().make_source(stream_options("late_readings"));
    ComponentMetrics cm = ComponentMetrics::for_component("test/stream", "source");
    SourceContext ctx;
    ctx.name = "test/stream";
    ctx.index = 3;
    ctx.ingest = &ingest;
    ctx.metrics = &cm;
    src->start(ctx);

    Record r;
    r.time_ns = 1'704'067'200'123'456'789;
    r.measurement = "climate";
    r.origin = "sensors/a";
    r.tags = {{"node", "a"}, {"room", "2"}};
    r.fields = {{"temp", 21.5}, {"count", std::int64_t{7}}, {"ok", true}, {"note", std::string("x")}};
    Record bare = r;
    bare.origin.clear();
    std::vector<Record> batch{r, bare};
    EXPECT_EQ(stream_bus().publish("late_readings", batch), 1u);
    EXPECT_EQ(stream_bus().publish("other", batch), 0u);
    ASSERT_EQ(ingest.taken.size(), 2u);
    EXPECT_EQ(ingest.taken[0].source, 3u);
    EXPECT_EQ(ingest.taken[0].origin, "sensors/a");
    EXPECT_EQ(ingest.taken[1].origin, "stream:late_readings");

    auto dec = components::decoder_record().make_decoder(Options{});
    std::vector<Record> out;
    std::string error;
    ASSERT_EQ(dec->decode(ingest.taken[0], out, error), DecodeStatus::Ok) << error;
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].time_ns, r.time_ns);
    EXPECT_EQ(out[0].measurement, "climate");
    EXPECT_EQ(out[0].origin, "sensors/a");
    ASSERT_EQ(out[0].tags.size(), 2u);
    EXPECT_EQ(*out[0].tag("room"), "2");
    EXPECT_EQ(std::get<std::int64_t>(out[0].field("count")->value), 7);
    EXPECT_EQ(std::get<double>(out[0].field("temp")->value), 21.5);
    EXPECT_EQ(std::get<bool>(out[0].field("ok")->value), true);

    src->stop();
    EXPECT_EQ(stream_bus().publish("late_readings", batch), 0u);
}

TEST(StreamSource, AFullQueueDropsAndCounts) {
    FakeIngest ingest(3);
    auto src = components::source_stream().make_source(stream_options("burst"));
    ComponentMetrics cm = ComponentMetrics::for_component("test/stream-burst", "source");
    SourceContext ctx;
    ctx.name = "test/stream-burst";
    ctx.ingest = &ingest;
    ctx.metrics = &cm;
    src->start(ctx);
    std::vector<Record> batch(5);
    stream_bus().publish("burst", batch);
    EXPECT_EQ(ingest.taken.size(), 3u);
    EXPECT_EQ(cm.dropped->value(), 2u);
    EXPECT_EQ(cm.received->value(), 3u);
    src->stop();
}

TEST(RecordDecoder, OtherFramesAreNotMineAndDamagedOnesBroken) {
    auto dec = components::decoder_record().make_decoder(Options{});
    std::vector<Record> out;
    std::string error;
    Frame f;
    f.payload = "{\"a\":1}";
    EXPECT_EQ(dec->decode(f, out, error), DecodeStatus::NotMine);
    f.payload = std::string("\0SR1", 4) + "\xff\xff";
    EXPECT_EQ(dec->decode(f, out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "record: malformed binary record");
    EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace sluice::testing
