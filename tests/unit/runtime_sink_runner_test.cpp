// The sink runner (src/runtime/sink_runner.*) alone: a real buffer in a
// temporary directory, a fake sink, a virtual clock. Faults (a send that
// throws, an open that throws, a cursor commit that fails as on a full disk)
// are counted, retried with back-off and never end the runner; delivery
// resumes when they are gone, nothing lost and nothing sent twice.

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/sink_runner.hpp"
#include "runtime_test_util.hpp"

namespace sluice {
namespace {

using namespace sluice::test;

class FakeSink : public Sink {
public:
    void open(SinkContext& ctx) override {
        (void)ctx;
        if (open_failures > 0) {
            --open_failures;
            throw std::runtime_error("cannot connect");
        }
    }
    SendResult send(std::span<const Record> batch) override {
        ++sends;
        if (throw_on_send) {
            throw std::runtime_error("link down");
        }
        SendResult res;
        if (busy_sends > 0) {
            --busy_sends;
            res.error = "the far side is busy";
            res.retry_after = busy_wait;
            return res;
        }
        std::lock_guard lk(mu);
        sizes.push_back(batch.size());
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const auto seq = seq_of(batch[i]);
            if (seq == reject_seq) {
                res.rejected.emplace_back(i, "refused by the far side");
            } else {
                delivered.push_back(seq);
            }
        }
        res.confirmed = batch.size();
        return res;
    }
    void close() override {
        if (throw_on_close) {
            throw std::runtime_error("close went wrong");
        }
    }
    std::vector<std::int64_t> got() {
        std::lock_guard lk(mu);
        return delivered;
    }

    std::atomic<int> open_failures{0};
    std::atomic<bool> throw_on_send{false};
    std::atomic<bool> throw_on_close{false};
    std::atomic<int> sends{0};
    // That many sends answer an error asking to wait `busy_wait` (Retry-After).
    std::atomic<int> busy_sends{0};
    std::chrono::nanoseconds busy_wait{0};
    std::int64_t reject_seq = -1;
    std::mutex mu;
    std::vector<std::int64_t> delivered;
    std::vector<std::size_t> sizes;  // of each send
};

// A sink that keeps batches in flight (Sink::overlaps), as the Kafka sink
// does: start() queues a batch, finish() confirms the oldest one.
// `fail_at`: that finish() (1-based) confirms only half its batch, with an error.
class OverlapSink : public Sink {
public:
    SendResult send(std::span<const Record> batch) override {
        start(batch);
        return finish();
    }
    bool overlaps() const override { return true; }
    void start(std::span<const Record> batch) override {
        std::lock_guard lk(mu);
        std::vector<std::int64_t> seqs;
        for (const Record& r : batch) {
            seqs.push_back(seq_of(r));
        }
        starts.push_back(seqs.front());
        queue.push_back(std::move(seqs));
        in_flight.push_back(queue.size());
        max_in_flight = std::max(max_in_flight, queue.size());
    }
    SendResult finish() override {
        std::lock_guard lk(mu);
        SendResult res;
        if (queue.empty()) {
            ++misuse;
            res.error = "nothing started";
            return res;
        }
        const auto seqs = std::move(queue.front());
        queue.pop_front();
        ++finishes;
        res.confirmed = finishes == fail_at ? seqs.size() / 2 : seqs.size();
        if (res.confirmed < seqs.size()) {
            res.error = "half of it timed out";
        }
        confirmed.insert(confirmed.end(), seqs.begin(), seqs.begin() + static_cast<std::ptrdiff_t>(res.confirmed));
        return res;
    }

    std::mutex mu;
    std::deque<std::vector<std::int64_t>> queue;
    std::vector<std::int64_t> starts;     // the first record of each start()
    std::vector<std::size_t> in_flight;   // batches in flight after each start()
    std::vector<std::int64_t> confirmed;  // every record a finish() confirmed, ignored results included
    std::size_t max_in_flight = 0;
    int finishes = 0;
    int fail_at = -1;
    int misuse = 0;
};

// One runner on its thread over a buffer with one sink "s".
class SinkRunnerTest : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        opts.id = "s";
        opts.label = unique_label(std::string("runner-test/") + info->name());
        opts.batch_size = 20;
        opts.retry_initial = 100ms;
        opts.retry_max = 800ms;
        BufferOptions bo;
        bo.path = dir.path() / "p.sqlite";
        bo.sinks = {"s"};
        buffer = Buffer::open(bo);
    }
    void TearDown() override {
        stop_runner();
        runner.reset();
        buffer.reset();
    }

    void append(std::int64_t from, std::int64_t to) {
        std::vector<Record> rs;
        for (auto i = from; i < to; ++i) {
            rs.push_back(numbered(i));
        }
        ASSERT_TRUE(buffer->append(rs, {}, {}).ok);
    }
    void start() {
        runner = std::make_unique<SinkRunner>(opts, *sink_under_test, *buffer, status, stop, input_done, *active_clock);
        thread = std::thread([this] { runner->run(); });
    }
    // Lets the runner deliver what is buffered, then return.
    void finish() {
        input_done = true;
        buffer->notify();
        if (thread.joinable()) {
            thread.join();
        }
    }
    void stop_runner() {
        stop = true;
        active_clock->wake();
        if (buffer) {
            buffer->close_readers();
        }
        if (thread.joinable()) {
            thread.join();
        }
    }
    std::uint64_t errors() { return runner->metrics().errors->value(); }
    std::uint64_t counter(const char* name) {
        return metrics().counter(name, "", {{"component", opts.label}}).value();
    }
    bool healthy() {
        std::lock_guard lk(status.mu);
        return status.healthy;
    }

    TempDir dir;
    SinkRunnerOptions opts;
    std::unique_ptr<Buffer> buffer;
    FakeSink sink;
    Sink* sink_under_test = &sink;
    SinkStatus status;
    std::atomic<bool> stop{false};
    std::atomic<bool> input_done{false};
    ManualClock clock;
    Clock system_clock;
    Clock* active_clock = &clock;
    std::unique_ptr<SinkRunner> runner;
    std::thread thread;
};

TEST_F(SinkRunnerTest, DeliversEverythingInOrderAndMovesTheCursor) {
    append(0, 50);
    start();
    finish();
    EXPECT_EQ(sink.got(), iota_seqs(0, 50));
    EXPECT_EQ(errors(), 0u);
    EXPECT_TRUE(runner->caught_up());
    EXPECT_EQ(buffer->stats().rows, 0u);  // confirmed everywhere: trimmed
}

TEST_F(SinkRunnerTest, BatchesGrowWithABacklogAndShrinkOnceCaughtUp) {
    opts.batch_max = 80;
    append(0, 100);
    start();
    ASSERT_TRUE(wait_for([&] { return sink.got().size() == 100 && runner->caught_up(); }));
    auto& target = metrics().gauge("sluice_sink_batch_target_records", "", {{"component", opts.label}});
    EXPECT_EQ(target.value(), 20.0) << "back to batch_size once a read came back short";
    {
        std::lock_guard lk(sink.mu);
        // The first read asks for batch_max: it must cover a grown batch
        // sent before a crash (the file sink then recognises its output).
        ASSERT_GE(sink.sizes.size(), 2u);
        EXPECT_EQ(sink.sizes[0], 80u);
        EXPECT_EQ(sink.sizes[1], 20u);
        sink.sizes.clear();
    }
    append(100, 600);  // one transaction: the next read sees all of it
    ASSERT_TRUE(wait_for([&] { return sink.got().size() == 600 && runner->caught_up(); }));
    EXPECT_EQ(target.value(), 20.0);
    append(600, 610);
    finish();
    EXPECT_EQ(sink.got(), iota_seqs(0, 610));
    std::lock_guard lk(sink.mu);
    ASSERT_GE(sink.sizes.size(), 4u);
    // Each full read doubles the next one, up to batch_max.
    EXPECT_EQ(sink.sizes[0], 20u);
    EXPECT_EQ(sink.sizes[1], 40u);
    EXPECT_EQ(sink.sizes[2], 80u);
    EXPECT_EQ(*std::max_element(sink.sizes.begin(), sink.sizes.end()), 80u);
    EXPECT_EQ(sink.sizes.back(), 10u) << "no backlog: what arrived, sent at once";
}

TEST_F(SinkRunnerTest, SendThatThrowsIsCountedRetriedWithBackOffAndResumes) {
    sink.throw_on_send = true;
    append(0, 50);
    start();
    ASSERT_TRUE(wait_for([&] { return errors() >= 4; }));
    EXPECT_FALSE(healthy());
    {
        std::lock_guard lk(status.mu);
        EXPECT_NE(status.last_error.find("link down"), std::string::npos) << status.last_error;
    }
    EXPECT_GE(counter("sluice_sink_retries_total"), 4u);
    EXPECT_TRUE(sink.got().empty());
    // The back-off: waits of 50-100 % of a step that doubles from 100 ms and
    // stops at 800 ms.
    const auto sleeps = clock.sleeps();
    ASSERT_GE(sleeps.size(), 4u);
    EXPECT_GE(sleeps[0], 50ms);
    EXPECT_LE(sleeps[0], 100ms);
    EXPECT_GE(sleeps[3], 400ms);
    for (const auto s : sleeps) {
        EXPECT_LE(s, 800ms);
    }

    sink.throw_on_send = false;
    ASSERT_TRUE(wait_for([&] { return sink.got().size() >= 50 && healthy(); }));
    append(50, 60);  // and it goes on delivering
    finish();
    EXPECT_EQ(sink.got(), iota_seqs(0, 60));  // nothing lost, nothing twice
    EXPECT_EQ(buffer->stats().rows, 0u);
}

TEST_F(SinkRunnerTest, TheFarSidesRetryAfterIsWaitedUpToRetryMax) {
    // 300 ms is above the first back-off steps (50-100 ms, 100-200 ms) and is
    // waited; 5 s is above retry_max (800 ms), which bounds it.
    sink.busy_sends = 2;
    sink.busy_wait = 300ms;
    append(0, 10);
    start();
    ASSERT_TRUE(wait_for([&] { return sink.got().size() == 10u; }));
    auto sleeps = clock.sleeps();
    ASSERT_EQ(sleeps.size(), 2u);
    EXPECT_EQ(sleeps[0], 300ms);
    EXPECT_EQ(sleeps[1], 300ms);

    sink.busy_wait = 5s;
    sink.busy_sends = 1;
    append(10, 20);
    ASSERT_TRUE(wait_for([&] { return sink.got().size() == 20u; }));
    sleeps = clock.sleeps();
    ASSERT_EQ(sleeps.size(), 3u);
    EXPECT_EQ(sleeps[2], 800ms);
    finish();
    EXPECT_EQ(sink.got(), iota_seqs(0, 20));
}

TEST_F(SinkRunnerTest, OpenThatThrowsIsRetried) {
    sink.open_failures = 3;
    append(0, 10);
    start();
    finish();
    EXPECT_EQ(sink.got(), iota_seqs(0, 10));
    EXPECT_EQ(errors(), 3u);
    EXPECT_TRUE(healthy());
}

TEST_F(SinkRunnerTest, FailedCursorCommitIsRetriedWithoutSendingAgain) {
    // Every transaction on the readers' connections fails, as a cursor
    // UPDATE does on a full disk.
    buffer->fail_reader_writes_for_test(true);
    append(0, 50);
    start();
    ASSERT_TRUE(wait_for([&] { return errors() >= 4; }));
    EXPECT_FALSE(healthy());
    // The first batch was delivered; its cursor move is retried, the batch
    // is not sent again and nothing after it is sent meanwhile.
    EXPECT_EQ(sink.got(), iota_seqs(0, 20));
    EXPECT_EQ(sink.sends.load(), 1);
    EXPECT_EQ(buffer->stats().sinks.at(0).cursor, 0u);

    buffer->fail_reader_writes_for_test(false);
    finish();
    EXPECT_EQ(sink.got(), iota_seqs(0, 50));  // nothing lost, nothing twice
    const auto st = buffer->stats();
    EXPECT_EQ(st.sinks.at(0).cursor, 50u);
    EXPECT_EQ(st.rows, 0u);
    EXPECT_TRUE(healthy());
}

TEST_F(SinkRunnerTest, RefusedRecordIsDeadLetteredAndNeverDropped) {
    sink.reject_seq = 7;
    buffer->fail_reader_writes_for_test(true);  // the dead letter cannot be stored yet
    append(0, 10);
    start();
    ASSERT_TRUE(wait_for([&] { return errors() >= 3; }));
    EXPECT_EQ(buffer->stats().sinks.at(0).cursor, 0u);  // not past a record it could not keep
    EXPECT_EQ(buffer->stats().dead_letters, 0u);

    buffer->fail_reader_writes_for_test(false);
    finish();
    EXPECT_EQ(buffer->stats().dead_letters, 1u);
    EXPECT_EQ(counter("sluice_sink_dead_letters_total"), 1u);
    // At least once: the batch went again after the failure.
    auto got = sink.got();
    EXPECT_EQ(std::vector<std::int64_t>(got.end() - 9, got.end()),
              (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 8, 9}));
    EXPECT_EQ(buffer->stats().sinks.at(0).cursor, 10u);
}

TEST_F(SinkRunnerTest, CloseThatThrowsIsCounted) {
    sink.throw_on_close = true;
    start();
    finish();
    const auto before = errors();
    EXPECT_NO_THROW(runner->close());
    EXPECT_EQ(errors(), before + 1);
}

TEST_F(SinkRunnerTest, StopEndsTheBackOffAtOnce) {
    active_clock = &system_clock;  // a real hour-long back-off
    sink.throw_on_send = true;
    opts.retry_initial = 3600s;
    opts.retry_max = 3600s;
    append(0, 5);
    start();
    ASSERT_TRUE(wait_for([&] { return errors() >= 1; }));
    stop_runner();  // returns at once, not after the hour
    EXPECT_FALSE(thread.joinable());
}

TEST_F(SinkRunnerTest, OverlappingSinkHasTheNextBatchInFlightAndConfirmsInOrder) {
    OverlapSink overlap;
    sink_under_test = &overlap;
    append(0, 200);
    start();
    finish();
    std::lock_guard lk(overlap.mu);
    EXPECT_EQ(overlap.max_in_flight, 2u) << "the next batch was started before the last one finished";
    EXPECT_EQ(overlap.confirmed, iota_seqs(0, 200));
    EXPECT_TRUE(overlap.queue.empty());
    EXPECT_EQ(overlap.misuse, 0);
    EXPECT_EQ(buffer->stats().rows, 0u);
}

TEST_F(SinkRunnerTest, OverlappingSinkSendsAgainFromTheFirstUnconfirmedRecord) {
    OverlapSink overlap;
    overlap.fail_at = 3;  // the batch of 40..59 confirms 40..49 only
    sink_under_test = &overlap;
    append(0, 200);
    start();
    finish();
    std::lock_guard lk(overlap.mu);
    // 60..79 was in flight when 40..59 failed: its result is ignored and the
    // runner reads again from 50, the first unconfirmed record.
    const std::vector<std::int64_t> firsts = {0, 20, 40, 60, 50, 70, 90, 110, 130, 150, 170, 190};
    EXPECT_EQ(overlap.starts, firsts);
    // After the failure the next batch waits until one went through again.
    const std::vector<std::size_t> in_flight = {1, 2, 2, 2, 1, 1, 2, 2, 2, 2, 2, 2};
    EXPECT_EQ(overlap.in_flight, in_flight);
    std::vector<std::int64_t> got = overlap.confirmed;
    std::sort(got.begin(), got.end());
    got.erase(std::unique(got.begin(), got.end()), got.end());
    EXPECT_EQ(got, iota_seqs(0, 200)) << "nothing lost";
    EXPECT_EQ(overlap.confirmed.size(), 220u) << "60..79 confirmed twice: a duplicate, never a loss";
    EXPECT_TRUE(overlap.queue.empty());
    EXPECT_EQ(overlap.misuse, 0);
    EXPECT_EQ(errors(), 1u);
    EXPECT_EQ(buffer->stats().rows, 0u);
}

}  // namespace
}  // namespace sluice
