// The pipeline worker (src/runtime/worker.*) alone: a real ingest queue and
// buffer in a temporary directory, a fake decoder and fake stages, a virtual
// clock. A stage or decoder that throws turns its records into dead letters
// (never dropped); a commit that fails on a full disk is retried until there
// is room again. The worker never ends before its queue is closed.

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "decoders/chain.hpp"
#include "runtime/worker.hpp"
#include "runtime_test_util.hpp"

namespace sluice {
namespace {

using namespace sluice::test;

// Payload "<n>": one record with seq = n. Payload "throw": throws.
class FakeDecoder : public Decoder {
public:
    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        (void)error;
        if (frame.payload == "throw") {
            throw std::runtime_error("decoder bug");
        }
        Record r = numbered(std::stoll(frame.payload));
        r.origin = frame.origin;
        out.push_back(std::move(r));
        return DecodeStatus::Ok;
    }
};

// Throws while `fail` is set (after adding a state change and a stream
// record, which must not survive), otherwise passes the batch on.
class FlakyStage : public Stage {
public:
    void process(StageBatch& b) override {
        if (fail) {
            b.state.push_back({"failed", "x", false});
            b.streams.emplace_back("nowhere", numbered(-1));
            throw std::runtime_error("boom");
        }
        b.state.push_back({"ok", "x", false});
    }
    void after_commit(bool committed) override {
        (void)committed;
        if (fail_after_commit) {
            throw std::runtime_error("after boom");
        }
    }
    std::atomic<bool> fail{false};
    std::atomic<bool> fail_after_commit{false};
};

class WorkerTest : public ::testing::Test {
protected:
    void SetUp() override {
        name = unique_label(std::string("worker-test-") +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
        bo.path = dir.path() / "p.sqlite";
        bo.sinks = {"s"};
        source.id = "src";
        std::vector<DecoderChain::Entry> entries;
        entries.push_back({"fake", std::make_unique<FakeDecoder>()});
        source.chain = std::make_unique<DecoderChain>(std::move(entries), name + "/src");
        source_metrics = ComponentMetrics::for_component(name + "/src", "source");
        source.metrics = &source_metrics;
        stage.id = "flaky";
        stage.label = name + "/flaky";
        auto flaky = std::make_unique<FlakyStage>();
        flaky_ = flaky.get();
        stage.stage = std::move(flaky);
        stage.metrics = ComponentMetrics::for_component(stage.label, "stage");
        const Labels l{{"pipeline", name}};
        auto& m = metrics();
        counters = {&m.counter("t_records", "", l), &m.counter("t_dead", "", l), &m.counter("t_commit_errors", "", l),
                    &m.counter("t_dropped", "", l), &m.counter("t_stream_dropped", "", l)};
    }
    void TearDown() override {
        // A test that failed half-way may leave the worker retrying a commit
        // that can never succeed: give up, so the failure is reported
        // instead of the join hanging.
        if (HasFailure()) {
            give_up = true;
        }
        finish();
        worker.reset();
        buffer.reset();
    }
    void start() {
        if (!buffer) {
            buffer = Buffer::open(bo);
        }
        WorkerOptions wo;
        wo.pipeline = name;
        wo.batch_max = 100;
        wo.batch_delay = batch_delay;
        worker = std::make_unique<Worker>(wo, queue, *buffer, std::vector<WorkerSource*>{&source},
                                          std::vector<WorkerStage*>{&stage}, counters, give_up, done, clock);
        thread = std::thread([this] { worker->run(); });
    }
    void push(const std::string& payload) {
        Frame f;
        f.payload = payload;
        f.origin = "o";
        ASSERT_TRUE(queue.push_wait(std::move(f)));
    }
    void push_range(std::int64_t from, std::int64_t to) {
        for (auto i = from; i < to; ++i) {
            push(std::to_string(i));
        }
    }
    void finish() {
        queue.close();
        if (thread.joinable()) {
            thread.join();
        }
    }

    TempDir dir;
    std::string name;
    std::chrono::nanoseconds batch_delay{};
    BufferOptions bo;
    std::unique_ptr<Buffer> buffer;
    FrameQueue queue{10000, 64 << 20};
    WorkerSource source;
    ComponentMetrics source_metrics;
    WorkerStage stage;
    FlakyStage* flaky_ = nullptr;
    WorkerCounters counters;
    std::atomic<bool> give_up{false};
    std::atomic<bool> done{false};
    ManualClock clock;
    std::unique_ptr<Worker> worker;
    std::thread thread;
};

TEST_F(WorkerTest, CommitsDecodedRecordsAndEndsWhenTheQueueCloses) {
    start();
    push_range(0, 30);
    finish();
    EXPECT_TRUE(done.load());
    EXPECT_EQ(counters.records_in->value(), 30u);
    EXPECT_EQ(buffered_seqs(*buffer, "s"), iota_seqs(0, 30));
}

// A source that waits for its frames to be stored (the mqtt source's unsaved
// window) learns of each commit, and its commit_soon ends the gathering of a
// batch long before batch_max_delay.
TEST_F(WorkerTest, TellsTheSourceWhatWasCommittedAndCommitsSoonWhenAsked) {
    std::atomic<std::size_t> committed{0};
    const std::function<void(std::size_t)> on_commit = [&](std::size_t n) { committed += n; };
    source.committed = &on_commit;
    batch_delay = std::chrono::seconds(60);
    start();
    const auto t0 = std::chrono::steady_clock::now();
    push_range(0, 7);
    worker->commit_soon();
    while (committed.load() < 7 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(committed.load(), 7u);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
    EXPECT_EQ(buffered_seqs(*buffer, "s"), iota_seqs(0, 7));
    give_up = true;  // the rest of a 60 s gathering need not be waited for
}

TEST_F(WorkerTest, StageThatThrowsDeadLettersTheBatchAndTheWorkerGoesOn) {
    flaky_->fail = true;
    start();
    push_range(0, 5);
    ASSERT_TRUE(wait_for([&] { return counters.dead_letters->value() >= 5; }));
    EXPECT_EQ(counters.records_in->value(), 0u);
    EXPECT_GE(stage.metrics.errors->value(), 1u);
    EXPECT_EQ(counters.stream_dropped->value(), 0u);  // its stream records went nowhere

    flaky_->fail = false;
    push_range(5, 10);
    finish();
    EXPECT_EQ(counters.records_in->value(), 5u);
    EXPECT_EQ(counters.dead_letters->value(), 5u);  // nothing lost: 5 + 5
    EXPECT_EQ(buffered_seqs(*buffer, "s"), iota_seqs(5, 10));
    // Only the good batches' state changes were stored.
    std::vector<std::string> keys;
    buffer->load_state("flaky", [&](std::string_view k, std::string_view) { keys.emplace_back(k); });
    EXPECT_EQ(keys, std::vector<std::string>{"ok"});
    EXPECT_EQ(buffer->stats().dead_letters, 5u);
    worker.reset();
    buffer.reset();
    const auto lines = dead_letter_lines(bo.path);
    ASSERT_EQ(lines.size(), 5u);
    for (const auto& l : lines) {
        EXPECT_NE(l.find(stage.label), std::string::npos) << l;
        EXPECT_NE(l.find("stage failed: boom"), std::string::npos) << l;
    }
}

TEST_F(WorkerTest, AfterCommitThatThrowsIsCounted) {
    flaky_->fail_after_commit = true;
    start();
    push_range(0, 3);
    // after_commit runs after the commit that counts the records.
    ASSERT_TRUE(wait_for(
        [&] { return counters.records_in->value() == 3 && stage.metrics.errors->value() >= 1; }));
    finish();
    EXPECT_EQ(buffered_seqs(*buffer, "s"), iota_seqs(0, 3));
}

TEST_F(WorkerTest, DecoderThatThrowsDeadLettersTheFrame) {
    start();
    push("1");
    push("throw");
    push("2");
    finish();
    EXPECT_EQ(counters.records_in->value(), 2u);
    EXPECT_EQ(counters.dead_letters->value(), 1u);
    EXPECT_EQ(source_metrics.errors->value(), 1u);
    EXPECT_EQ(buffered_seqs(*buffer, "s"), (std::vector<std::int64_t>{1, 2}));
}

TEST_F(WorkerTest, CommitOnAFullDiskIsRetriedUntilThereIsRoom) {
    // A database limited to 256 KiB, filled up: appends fail as on a full
    // disk (with overflow=block; drop_oldest would drop the oldest rows).
    bo.max_file_bytes = 256 * 1024;
    bo.overflow = Overflow::Block;
    buffer = Buffer::open(bo);
    std::vector<Record> big;
    for (int i = 0; i < 20; ++i) {
        Record r = numbered(-100);
        r.fields.push_back({"pad", std::string(1000, 'p')});
        big.push_back(r);
    }
    std::uint64_t filler = 0;
    for (int i = 0; i < 1000 && buffer->append(big, {}, {}).ok; ++i) {
        filler += big.size();
    }
    // Then single small records, until not even one fits.
    const Record small = numbered(-100);
    for (int i = 0; i < 100000 && buffer->append({&small, 1}, {}, {}).ok; ++i) {
        ++filler;
    }
    ASSERT_FALSE(buffer->append({&small, 1}, {}, {}).ok);
    ASSERT_GT(filler, 0u);
    start();
    push_range(0, 40);
    ASSERT_TRUE(wait_for([&] { return counters.commit_errors->value() >= 3; }));
    // /ready reads this: the commits are failing, and why.
    EXPECT_NE(worker->commit_failure(), "");
    // SQLite may still find room for a small batch now and then (a page the
    // WAL hands back), so some of the 40 may be in already; not all of them.
    EXPECT_LT(counters.records_in->value(), 40u);
    // The back-off of the one retry rule: 100 ms doubling.
    const auto sleeps = clock.sleeps();
    ASSERT_FALSE(sleeps.empty());
    EXPECT_LE(sleeps[0], 100ms);

    // The sink delivers the filler (the rows before the worker's); the space
    // comes back.
    auto rd = buffer->reader("s");
    auto rows = rd->read(100000);
    ASSERT_GE(rows.size(), filler);
    ASSERT_EQ(seq_of(rows[filler - 1].record), -100);
    ASSERT_TRUE(rd->commit(rows[filler - 1].id).ok);
    rd.reset();
    finish();
    EXPECT_EQ(counters.records_in->value(), 40u);
    EXPECT_EQ(worker->commit_failure(), "");  // commits again: ready again
    EXPECT_EQ(buffered_seqs(*buffer, "s"), iota_seqs(0, 40));  // nothing lost, nothing twice
}

}  // namespace
}  // namespace sluice
