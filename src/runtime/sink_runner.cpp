#include "runtime/sink_runner.hpp"

#include <algorithm>
#include <charconv>
#include <span>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/options.hpp"
#include "core/record_json.hpp"
#include "core/stop_request.hpp"
#include "http/tap.hpp"
#include "runtime/thread_name.hpp"

namespace sluice {

SinkRunner::SinkRunner(SinkRunnerOptions options, Sink& sink, Buffer& buffer, SinkStatus& status,
                       const std::atomic<bool>& stop, const std::atomic<bool>& input_done, Clock& clock)
    : opts_(std::move(options)),
      sink_(sink),
      buffer_(buffer),
      status_(status),
      stop_(stop),
      input_done_(input_done),
      clock_(clock),
      backoff_(opts_.retry_initial, opts_.retry_max) {
    auto& m = sluice::metrics();
    metrics_ = ComponentMetrics::for_component(opts_.label, "sink");
    const Labels sl{{"component", opts_.label}};
    retries_ = &m.counter("sluice_sink_retries_total",
                          "Batches a sink sent again after a failed or partly confirmed send", sl);
    dead_lettered_ =
        &m.counter("sluice_sink_dead_letters_total", "Records the far side refused, stored as dead letters", sl);
    batch_seconds_ = &m.histogram("sluice_sink_batch_duration_seconds",
                                  "Time one send of a batch to the far side took, until it confirmed or failed", sl);
    backoff_seconds_ =
        &m.gauge("sluice_sink_backoff_seconds", "Current retry back-off (0 while delivering normally)", sl);
    replays_ = &m.counter("sluice_sink_replays_total",
                          "Replays of a sink: its cursor moved back to send delivered records again "
                          "(POST /api/buffer/replay)",
                          sl);
    up_ = &m.gauge("sluice_sink_up", "1 while the sink delivers, 0 while it retries after errors", sl);
    batch_target_ = &m.gauge("sluice_sink_batch_target_records",
                             "Records the sink's next read asks for: batch_size while it keeps up, growing up to "
                             "batch_size * batch_growth while it works off a backlog",
                             sl);
    opts_.batch_size = std::max<std::size_t>(opts_.batch_size, 1);
    opts_.batch_max = std::max(opts_.batch_max, opts_.batch_size);
    target_ = opts_.batch_max;  // see open_reader
    batch_target_->set(static_cast<double>(target_));
    up_->set(1);
    backoff_seconds_->set(0);
    ctx_ = SinkContext{opts_.label, &metrics_, {}};
    std::lock_guard lk(status_.mu);
    status_.backoff = backoff_.step();
}

SinkRunner::~SinkRunner() { answer_replay("the sink stopped before the replay began"); }

void SinkRunner::run() {
    name_thread("sink:" + opts_.id);
    while (!stop_) {
        try {
            if (!turn()) {
                break;
            }
        } catch (const std::exception& e) {
            drop_next();  // read again from the cursor
            failed(fmt::format("unexpected error: {}", e.what()));
        } catch (...) {
            drop_next();
            failed("unexpected error");
        }
    }
    // A batch still started is not waited for on the way out: close()
    // ends it, and its rows stay in the buffer.
    have_next_ = next_started_ = batch_started_ = false;
    reader_.reset();
    {
        std::lock_guard lk(replay_mu_);
        finished_ = true;  // a replay asked from now on is answered at once
    }
    answer_replay("the sink stopped before the replay began");
}

void SinkRunner::request_replay(std::uint64_t from_id, ReplayDone done) {
    std::optional<ReplayDone> refused;
    std::optional<std::pair<std::uint64_t, ReplayDone>> replaced;
    {
        std::lock_guard lk(replay_mu_);
        if (finished_) {
            refused = std::move(done);
        } else {
            replaced = std::exchange(replay_, std::make_pair(from_id, std::move(done)));
            replay_asked_ = true;
        }
    }
    if (refused) {
        (*refused)(ReaderResult{false, "the sink has stopped (its pipeline finished its input)", 0}, 0);
        return;
    }
    if (replaced) {
        replaced->second(ReaderResult{false, "replaced by a newer replay request", 0}, 0);
    }
    buffer_.notify();  // an idle runner waits in the reader
}

void SinkRunner::answer_replay(const std::string& error) {
    std::optional<std::pair<std::uint64_t, ReplayDone>> pending;
    {
        std::lock_guard lk(replay_mu_);
        pending = std::exchange(replay_, std::nullopt);
        replay_asked_ = false;
    }
    if (pending) {
        pending->second(ReaderResult{false, error, 0}, 0);
    }
}

void SinkRunner::apply_replay() {
    std::optional<std::pair<std::uint64_t, ReplayDone>> r;
    {
        std::lock_guard lk(replay_mu_);
        r = std::exchange(replay_, std::nullopt);
        replay_asked_ = false;
    }
    if (!r) {
        return;
    }
    const auto [from_id, done] = std::move(*r);
    const std::uint64_t was = reader_->cursor();
    const ReaderResult res = reader_->rewind(from_id);
    const std::uint64_t records = res.ok ? was - (from_id - 1) : 0;
    if (res.ok) {
        replays_->inc();
        tapped_through_ = std::min(tapped_through_, from_id - 1);  // the tap shows them again
        ctx_.replayed_from = from_id;  // for an open still to come
        if (opened_) {
            try {
                sink_.rewound(from_id);
            } catch (const std::exception& e) {
                log::error("{}: after the replay's cursor move: {}", opts_.label, e.what());
            }
        }
        log::info("{}: replaying {} records from record {} on", opts_.label, records, from_id);
    } else {
        log::warn("{}: replay from record {} refused: {}", opts_.label, from_id, res.error);
    }
    done(res, records);
}

void SinkRunner::drop_next() {
    // A batch started before the one ahead of it failed (or before an
    // exception left the turn) is collected and its result ignored, so the
    // sink's next finish() belongs to the next start(). What of it reached
    // the far side is sent again: a duplicate, never a loss.
    int unfinished = (batch_started_ ? 1 : 0) + (next_started_ ? 1 : 0);
    have_next_ = batch_started_ = next_started_ = false;
    for (; unfinished > 0; --unfinished) {
        try {
            (void)sink_.finish();
        } catch (...) {
            // nothing to do: the rows are read again from the cursor
        }
    }
}

void SinkRunner::close() {
    try {
        sink_.close();
    } catch (const std::exception& e) {
        metrics_.errors->inc();
        log::error("{}: close failed: {}", opts_.label, e.what());
    } catch (...) {
        metrics_.errors->inc();
        log::error("{}: close failed", opts_.label);
    }
}

bool SinkRunner::open_reader() {
    try {
        auto reader = buffer_.reader(opts_.id);
        // Handed to open(): lets the sink undo output the cursor does not cover.
        std::string state = reader->committed_state();
        if (state.starts_with(kReplayMark)) {
            // `sluice buffer replay` moved the cursor back while the gateway
            // was stopped: the sink hears of it at open, and the mark goes
            // with the next cursor move.
            const auto nl = state.find('\n');
            const std::string_view id = std::string_view(state).substr(kReplayMark.size(), nl - kReplayMark.size());
            std::uint64_t from = 0;
            std::from_chars(id.data(), id.data() + id.size(), from);
            ctx_.replayed_from = from;
            state.erase(0, nl == std::string::npos ? state.size() : nl + 1);
            replay_mark_ = true;
            log::info("{}: replaying from record {} (sluice buffer replay)", opts_.label, from);
        }
        ctx_.committed_state = std::move(state);
        reader_ = std::move(reader);
        // The first read from the cursor asks for the largest batch: it may
        // have to cover a whole (grown) batch that was sent before a crash
        // lost its cursor move, which the file sink recognises (and cuts
        // instead of writing twice) only if it sends at least those rows
        // again. A read never waits for rows, so this costs no latency.
        target_ = opts_.batch_max;
        batch_target_->set(static_cast<double>(target_));
        return true;
    } catch (const std::exception& e) {
        failed(fmt::format("buffer: {}", e.what()));
        return false;
    }
}

bool SinkRunner::turn() {
    if (!reader_ && !open_reader()) {
        return true;
    }
    if (commit_pending_ && !retry_pending_commit()) {
        return true;
    }
    // Between batches, with none read ahead (none is read ahead while a
    // replay is asked for), and even while the sink cannot open: the
    // cursor moves back before the next read.
    if (replay_asked_.load() && !have_next_) {
        apply_replay();
    }
    if (!opened_) {
        try {
            sink_.open(ctx_);
            opened_ = true;
            ctx_.replayed_from = 0;  // heard
        } catch (const std::exception& e) {
            failed(e.what());
            return true;
        }
    }
    // The reads and the swap below reuse the vectors' records, so a sink in
    // steady state allocates nothing per record here.
    // Read input_done before the buffer: the worker's last commit comes
    // before it sets input_done, so an empty read after seeing it set means
    // everything is delivered. (Seen only after an empty read, the last
    // commit may have landed in between: read once more.)
    bool done_before_read = false;
    if (have_next_) {
        std::swap(batch_, next_);
        std::swap(batch_ids_, next_ids_);
        have_next_ = false;
        batch_started_ = next_started_;
        batch_started_at_ = next_started_at_;
        next_started_ = false;
        batch_asked_ = next_asked_;
    } else {
        done_before_read = input_done_.load();
        batch_asked_ = target_;
        if (auto rd = reader_->read_after(reader_->cursor(), batch_, batch_ids_, batch_asked_); !rd.ok) {
            failed(fmt::format("buffer read failed: {}", rd.error));
            return true;
        }
    }
    const bool full = batch_.size() == batch_asked_;
    adapt(batch_asked_, batch_.size());
    if (batch_.empty()) {
        caught_up_ = true;
        if (done_before_read) {
            return false;  // everything was committed before input_done, and all of it is delivered
        }
        if (input_done_.load()) {
            return true;  // read again, now that the last commit is in
        }
        // Woken by every commit, by the worker's end of input and by
        // close_readers() (a cut-short stop); the timeout is only a safety
        // net, long so that an idle gateway does not poll its buffer.
        // input_done is part of what ends the wait: the worker sets it and
        // notifies without a commit when the last batch was already in, and
        // a stop would otherwise wait out the timeout.
        reader_->wait(std::chrono::seconds(5), &input_done_, &replay_asked_);
        return true;
    }
    caught_up_ = false;
    const std::span<const Record> sending(batch_.data(), batch_.size());
    if (http::tap().active()) {
        // A batch sent again after an error is not shown again.
        std::size_t first = 0;
        while (first < batch_.size() && batch_ids_[first] <= tapped_through_) {
            ++first;
        }
        http::tap().observe(opts_.label, "sink", sending.subspan(first));
        tapped_through_ = std::max(tapped_through_, batch_ids_.back());
    }
    // A full batch means a backlog: while this one is sent, the rows
    // delivered before it are trimmed and the next batch is read. The reader
    // is used by one thread at a time (the task is joined before anything
    // below touches it again; an exception on the way joins it too).
    bool reading = false;
    if (full && !replay_asked_.load()) {
        next_asked_ = target_;
        ahead_after_ = batch_ids_.back();
        // No thread to spare: read after the send, as without a backlog.
        reading = ahead_thread_.start([this] {
            try {
                buffer_.trim();
                ahead_ = reader_->read_after(ahead_after_, next_, next_ids_, next_asked_);
            } catch (const std::exception& e) {
                ahead_ = ReaderResult{false, e.what(), 0};
            }
        });
    }
    // Whatever leaves this turn, the read ahead has ended before the reader
    // is touched again.
    struct JoinAhead {
        SideThread& t;
        bool on;
        ~JoinAhead() {
            if (on) {
                t.wait();
            }
        }
    } join_ahead{ahead_thread_, reading};
    // A sink that overlaps batches gets the one read ahead before this one
    // is confirmed (Sink::overlaps): its far side always has work queued.
    const bool overlap = sink_.overlaps() && (reading || batch_started_);
    SendResult result;
    auto send_started = batch_started_ ? batch_started_at_ : clock_.mono_ns();
    try {
        if (!overlap) {
            ctx_.batch_ids = std::span<const std::uint64_t>(batch_ids_.data(), batch_ids_.size());
            result = sink_.send(sending);
        } else {
            if (!batch_started_) {
                sink_.start(sending);
            }
            batch_started_ = false;
            if (reading) {
                ahead_thread_.wait();
                join_ahead.on = false;
                // Not while the sink recovers: a batch that fails takes the
                // one after it back to the cursor, and what of it arrived
                // (say the brokers came back in between) arrives twice.
                if (ahead_.ok && !next_.empty() && delivering_) {
                    next_started_at_ = clock_.mono_ns();
                    try {
                        sink_.start(std::span<const Record>(next_.data(), next_.size()));
                        next_started_ = true;
                    } catch (const std::exception& e) {
                        // Not started: it is sent in its own turn.
                        log::debug("{}: starting the next batch failed: {}", opts_.label, e.what());
                    }
                }
            }
            result = sink_.finish();
        }
    } catch (const std::exception& e) {
        result = SendResult{};
        result.error = fmt::format("send failed: {}", e.what());
    } catch (...) {
        result = SendResult{};
        result.error = "send failed (unknown exception)";
    }
    batch_started_ = false;
    const double send_seconds = static_cast<double>(clock_.mono_ns() - send_started) / 1e9;
    batch_seconds_->observe(send_seconds);
    if (stats_ != nullptr) {
        stats_->sinks[stats_index_]->send_latency.observe(send_seconds);
    }
    const std::size_t confirmed = std::min(result.confirmed, sending.size());
    if (reading) {
        if (join_ahead.on) {
            ahead_thread_.wait();
            join_ahead.on = false;
        }
        const ReaderResult ahead = std::move(ahead_);
        // Only after a wholly confirmed batch does the next one follow on;
        // otherwise the unconfirmed rows are read again.
        have_next_ = ahead.ok && confirmed == sending.size() && result.error.empty() && !next_.empty();
        if (!ahead.ok) {
            log::debug("{}: reading ahead failed: {}", opts_.label, ahead.error);
        }
        if (!have_next_) {
            drop_next();
        }
    }
    if (!dead_letter_rejected(result, confirmed)) {
        drop_next();  // the batch is sent again: its cursor does not move
        return true;
    }
    if (confirmed > 0) {
        metrics_.sent->inc(confirmed - std::min(confirmed, result.rejected.size()));
    }
    // With a state the cursor is stored even when nothing was confirmed: the
    // state may undo partial output.
    if (result.state || confirmed > 0) {
        pending_id_ = confirmed > 0 ? batch_ids_[confirmed - 1] : reader_->cursor();
        pending_state_ = std::move(result.state);
        pending_keep_rows_ = !pending_state_ && have_next_;  // trimmed beside the next send
        commit_pending_ = true;
        if (!retry_pending_commit()) {
            if (!result.error.empty()) {
                retries_->inc();
            }
            return true;
        }
    }
    if (!result.error.empty()) {
        retries_->inc();
        failed(result.error, result.retry_after);
    } else {
        delivering();
    }
    return true;
}

bool SinkRunner::retry_pending_commit() {
    ReaderResult res;
    if (replay_mark_ && !pending_state_) {
        res = reader_->commit(pending_id_, ctx_.committed_state);  // the state without the replay's mark
    } else if (pending_state_) {
        res = reader_->commit(pending_id_, *pending_state_);
    } else if (pending_keep_rows_) {
        res = reader_->commit_keep_rows(pending_id_);
    } else {
        res = reader_->commit(pending_id_);
    }
    if (!res.ok) {
        // The rows stay delivered: only this commit is tried again.
        failed(fmt::format("buffer cursor commit failed: {}", res.error));
        return false;
    }
    commit_pending_ = false;
    replay_mark_ = false;
    pending_state_.reset();
    if (stats_ != nullptr) {
        stats_->sink_confirmed(stats_index_, pending_id_, wall_now_ns());
    }
    return true;
}

bool SinkRunner::dead_letter_rejected(const SendResult& result, std::size_t confirmed) {
    for (const auto& [index, reason] : result.rejected) {
        if (index >= confirmed) {
            continue;
        }
        DeadLetter d;
        d.time_ns = clock_.wall_ns();
        d.origin = batch_[index].origin;
        d.stage = opts_.label;
        d.reason = reason;
        append_record_json(d.payload, batch_[index]);
        if (auto res = reader_->dead_letter(d); !res.ok) {
            // Never dropped: the cursor stays, the batch goes again (and the
            // far side refuses the record again).
            failed(fmt::format("storing a refused record as a dead letter failed: {}", res.error));
            return false;
        }
        dead_lettered_->inc();
    }
    return true;
}

void SinkRunner::failed(const std::string& error, std::chrono::nanoseconds asked) {
    metrics_.errors->inc();
    delivering_ = false;
    bool first;
    {
        std::lock_guard lk(status_.mu);
        first = status_.healthy || status_.last_error != error;
        status_.healthy = false;
        status_.last_error = error;
    }
    auto wait = backoff_.next();
    // The far side's own wait (Retry-After) when longer, within retry_max.
    if (asked > wait) {
        wait = std::min(asked, backoff_.max());
    }
    // A stop the run was asked for (standard output closed) is no failure to report.
    if (first && !stop_requested()) {
        if (asked > std::chrono::nanoseconds(0)) {
            log::warn("{}: {} (asked to wait {}; waiting {}, then retrying with back-off up to {})", opts_.label,
                      error, format_duration(asked), format_duration(wait), format_duration(backoff_.max()));
        } else {
            log::warn("{}: {} (retrying with back-off up to {})", opts_.label, error,
                      format_duration(backoff_.max()));
        }
    }
    up_->set(0);
    backoff_seconds_->set(static_cast<double>(wait.count()) / 1e9);
    clock_.sleep(wait, stop_);
    std::lock_guard lk(status_.mu);  // ready() reads the back-off
    status_.backoff = backoff_.step();
}

void SinkRunner::adapt(std::size_t asked, std::size_t got) {
    const std::size_t before = target_;
    if (got < asked) {
        target_ = opts_.batch_size;  // caught up: small batches, sent as soon as rows arrive
    } else if (asked >= target_) {
        target_ = std::min(target_ * 2, opts_.batch_max);
    }
    if (target_ != before) {
        batch_target_->set(static_cast<double>(target_));
    }
}

void SinkRunner::delivering() {
    delivering_ = true;
    std::lock_guard lk(status_.mu);
    if (!status_.healthy) {
        log::info("{}: delivering again", opts_.label);
    }
    status_.healthy = true;
    status_.last_error.clear();
    backoff_.reset();
    status_.backoff = backoff_.step();
    up_->set(1);
    backoff_seconds_->set(0);
}

}  // namespace sluice
