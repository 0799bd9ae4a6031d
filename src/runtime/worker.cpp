#include "runtime/worker.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/options.hpp"
#include "core/record_json.hpp"
#include "core/streams.hpp"
#include "decoders/chain.hpp"
#include "core/backoff.hpp"
#include "runtime/thread_name.hpp"
#include "http/tap.hpp"

namespace sluice {

Worker::Worker(WorkerOptions options, FrameQueue& queue, Buffer& buffer, std::vector<WorkerSource*> sources,
               std::vector<WorkerStage*> stages, WorkerCounters counters, const std::atomic<bool>& give_up,
               std::atomic<bool>& done, Clock& clock, std::function<void()> on_space,
               std::function<void()> before_turn)
    : opts_(std::move(options)),
      queue_(queue),
      buffer_(buffer),
      sources_(std::move(sources)),
      stages_(std::move(stages)),
      counters_(counters),
      give_up_(give_up),
      done_(done),
      clock_(clock),
      on_space_(std::move(on_space)),
      before_turn_(std::move(before_turn)),
      commit_backoff_(opts_.commit_retry_initial, opts_.commit_retry_max) {
    for (const auto* slot : stages_) {
        const auto tick = slot->stage->tick_interval();
        if (tick.count() > 0 && (tick_interval_.count() == 0 || tick < tick_interval_)) {
            tick_interval_ = tick;
        }
    }
    encode_early_ = stages_.empty();
    last_turn_ns_ = clock_.mono_ns();
}

void Worker::signal_space() {
    if (on_space_) {
        on_space_();
    }
}

void Worker::run() {
    name_thread("sluice-worker");
    frames_.reserve(opts_.batch_max);
    records_.reserve(opts_.batch_max);
    last_stage_turn_ = clock_.mono_ns();
    for (;;) {
        try {
            if (!turn()) {
                break;
            }
        } catch (const std::exception& e) {
            // Not expected (every part is guarded); the batch in hand is lost.
            log::error("pipeline {}: worker: unexpected error, {} frames lost: {}", opts_.pipeline, frames_.size(),
                       e.what());
            clock_.sleep(std::chrono::milliseconds(100), give_up_);
        } catch (...) {
            log::error("pipeline {}: worker: unexpected error, {} frames lost", opts_.pipeline, frames_.size());
            clock_.sleep(std::chrono::milliseconds(100), give_up_);
        }
    }
    done_ = true;
    buffer_.notify();
}

bool Worker::turn() {
    if (before_turn_) {
        before_turn_();
    }
    mark_turn();
    frames_.clear();
    // An idle worker sleeps until a frame comes, the queue closes or a
    // stage's timer is due; the long timeout is only a safety net (waiting
    // for input is not being stuck: last_turn_ns() says so to the watchdog).
    constexpr std::chrono::nanoseconds kIdleWait = std::chrono::seconds(5);
    const auto idle_wait = tick_interval_.count() > 0 ? std::min(tick_interval_, kIdleWait) : kIdleWait;
    waiting_for_input_ = true;
    queue_.pop_many(frames_, opts_.batch_max, idle_wait);
    waiting_for_input_ = false;
    mark_turn();
    bool tick = false;
    if (frames_.empty()) {
        signal_space();
        if (queue_.closed() && queue_.size() == 0) {
            if (!opts_.end_of_input_turn || end_done_) {
                return false;
            }
            end_done_ = true;  // one last stage turn: windows close
            end_turn_ = true;
            tick = true;
        } else if (tick_interval_.count() == 0 ||
                   clock_.mono_ns() - last_stage_turn_ < tick_interval_.count()) {
            return true;
        } else {
            tick = true;  // no input for a while: let timer-driven stages run
        }
    }
    // Group commit: gather until the batch is full or batch_max_delay has
    // passed since the last batch. Records trickling in are committed at most
    // once per batch_max_delay; one that finds the worker idle for longer is
    // committed at once, without a second wake-up to end a wait for others.
    const auto now_ns = mono_now_ns();
    const auto until = std::max(now_ns, last_batch_ns_ + opts_.batch_delay.count());
    while (!tick && frames_.size() < opts_.batch_max) {
        const auto left = until - mono_now_ns();
        if (commit_soon_.exchange(false)) {
            // A source waits for this commit: take what is queued, no more waiting.
            queue_.pop_many(frames_, opts_.batch_max - frames_.size(), std::chrono::nanoseconds(0));
            break;
        }
        if (left <= 0) {
            break;
        }
        // Sleep until the batch can be full (or the delay is over, or a
        // source asks for its commit): frames that trickle in meanwhile do
        // not wake this thread one push at a time.
        const std::size_t want = opts_.batch_max - frames_.size();
        queue_.wait_for_items(want, std::chrono::nanoseconds(left));
        if (queue_.pop_many(frames_, want, std::chrono::nanoseconds(0)) == 0) {
            break;
        }
    }
    if (!tick && frames_.size() >= opts_.batch_max && opts_.batch_grow_max > opts_.batch_max) {
        grow_batch();
    }
    signal_space();
    if (counters_.batch_frames != nullptr && !frames_.empty()) {
        counters_.batch_frames->observe(static_cast<double>(frames_.size()));
    }

    if (!frames_.empty()) {
        last_batch_ns_ = mono_now_ns();
    }
    decode(frames_);
    last_stage_turn_ = clock_.mono_ns();
    run_stages(tick);
    const bool committed = commit();
    tell_sources(committed);
    for (auto* slot : stages_) {
        try {
            slot->stage->after_commit(committed);
        } catch (const std::exception& e) {
            slot->metrics.errors->inc();
            slot->fail_log.warn("pipeline {}: stage '{}': after_commit failed: {}", opts_.pipeline, slot->id,
                                e.what());
        }
    }
    if (committed && !streams_.empty()) {
        publish_streams();
    }
    // The sinks were woken by the append itself (only rows wake them): a
    // second notify here would make a just-woken sink wait for the lock.
    return true;
}

void Worker::grow_batch() {
    // A full batch with frames still queued: take what is there (no waiting)
    // in steps of batch_max, while the queue keeps up and until the bounds.
    // A source waiting for its commit (commit_soon) ends the growth.
    const FrameBytes size_of;
    std::size_t bytes = 0;
    for (const auto& f : frames_) {
        bytes += size_of(f);
    }
    while (frames_.size() < opts_.batch_grow_max && bytes < opts_.batch_grow_bytes && !commit_soon_.load()) {
        const std::size_t before = frames_.size();
        const std::size_t want = std::min(opts_.batch_max, opts_.batch_grow_max - before);
        if (queue_.pop_many(frames_, want, std::chrono::nanoseconds(0)) == 0) {
            break;
        }
        for (std::size_t i = before; i < frames_.size(); ++i) {
            bytes += size_of(frames_[i]);
        }
        signal_space();  // sources waiting for room go on filling meanwhile
    }
}

void Worker::decode(const std::vector<Frame>& frames) {
    records_.clear();
    state_.clear();
    encoded_.clear();
    dead_.clear();
    checkpoints_.clear();
    for (auto* sp : sources_) {
        sp->batch_frames = 0;
    }
    arrival_count_ = 0;
    arrival_offset_sum_ = 0;
    if (counters_.stats != nullptr) {
        // Per batch, not per record: one map entry per origin, merged into
        // the hub with one lock after the commit.
        topics_.clear();
        for (const auto& f : frames) {
            auto& d = topics_[f.origin];
            ++d.events;
            d.bytes += f.payload.size();
            if (f.arrival_ns > 0) {
                if (arrival_count_ == 0) {
                    arrival_base_ns_ = f.arrival_ns;
                }
                arrival_offset_sum_ += f.arrival_ns - arrival_base_ns_;
                ++arrival_count_;
            }
        }
    }
    // A chain whose first decoder asks about a batch at once (the exec
    // decoder's command) gets its source's frames now.
    for (std::uint32_t s = 0; s < sources_.size(); ++s) {
        auto& chain = sources_[s]->chain;
        if (!chain || !chain->wants_prefetch() || frames.empty()) {
            continue;
        }
        prefetch_.clear();
        for (const auto& f : frames) {
            if (f.source == s && f.origin_cut_from == 0) {
                prefetch_.push_back(&f);
            }
        }
        if (!prefetch_.empty()) {
            try {
                chain->prefetch(prefetch_);
            } catch (const std::exception& e) {
                sources_[s]->decode_log.warn("pipeline {}: source '{}': a decoder failed on a batch (each frame is "
                                             "decoded alone): {}",
                                             opts_.pipeline, sources_[s]->id, e.what());
            }
        }
    }
    const bool tap_on = http::tap().active();
    for (const auto& f : frames) {
        auto& src = *sources_[f.source];
        ++src.batch_frames;
        const std::size_t before = records_.size();
        DeadLetter dl;
        if (f.origin_cut_from != 0) {
            dl.time_ns = f.arrival_ns;
            dl.origin = f.origin;
            dl.stage = "source";
            dl.reason = fmt::format("origin of {} bytes is longer than max_origin_bytes ({}); cut here",
                                    f.origin_cut_from, src.max_origin);
            dl.payload = f.payload;
            src.metrics->errors->inc();
            src.origin_log.warn("pipeline {}: source '{}': a frame's origin of {} bytes is longer than "
                                "max_origin_bytes ({}); stored as a dead letter",
                                opts_.pipeline, src.id, f.origin_cut_from, src.max_origin);
            dead_.push_back(std::move(dl));
        } else {
            bool ok = false;
            try {
                ok = src.chain->decode(f, records_, dl);
            } catch (const std::exception& e) {
                records_.resize(before);
                src.metrics->errors->inc();
                src.decode_log.warn("pipeline {}: source '{}': a decoder failed on a frame; stored as a dead "
                                    "letter: {}",
                                    opts_.pipeline, src.id, e.what());
                dl = DeadLetter{};
                dl.time_ns = f.arrival_ns;
                dl.origin = f.origin;
                dl.stage = "decode";
                dl.reason = fmt::format("decoder failed: {}", e.what());
                dl.payload = f.payload.substr(0, DecoderChain::kMaxDeadLetterPayload);
            }
            if (ok) {
                bool misfit = false;
                for (std::size_t i = before; i < records_.size(); ++i) {
                    if (src.topology.enabled() && !src.topology.apply(f.origin, records_[i])) {
                        misfit = true;
                    }
                    if (records_[i].measurement.empty() && !src.measurement.empty()) {
                        records_[i].measurement = src.measurement;
                    }
                }
                if (misfit) {
                    if (src.topology_mismatches != nullptr) {
                        src.topology_mismatches->inc();
                    }
                    src.topology_log.warn("pipeline {}: source '{}': origin '{}' does not fit the topology ({}); its "
                                          "records keep no topology tags (further ones are counted in "
                                          "sluice_source_topology_mismatches_total)",
                                          opts_.pipeline, src.id, f.origin, src.topology.layout());
                }
                if (tap_on && records_.size() > before) {
                    http::tap().observe(opts_.pipeline + "/" + src.id, "source",
                                        std::span<const Record>(records_.data() + before, records_.size() - before));
                }
                if (encode_early_) {
                    for (const auto& r : records_) {
                        encoded_.add(r);
                    }
                    records_.clear();
                }
            } else {
                dead_.push_back(std::move(dl));
            }
        }
        if (f.has_position) {
            if (src.position_per_epoch != nullptr && *src.position_per_epoch) {
                auto& ps = src.epoch_positions;
                const auto it = std::find_if(ps.begin(), ps.end(),
                                             [&](const auto& p) { return p.first == f.position_epoch; });
                if (it == ps.end()) {
                    ps.emplace_back(f.position_epoch, f.position);
                } else {
                    it->second = f.position;
                }
            } else {
                src.position_pending = true;
                src.position_epoch = f.position_epoch;
                src.position = f.position;
            }
        }
    }
    for (auto* sp : sources_) {
        // Decoder state (sparkplug_b's aliases) commits with these records.
        if (sp->chain && !frames.empty()) {
            sp->chain->take_state(state_);
        }
        for (const auto& [epoch, position] : sp->epoch_positions) {
            checkpoints_.emplace_back(fmt::format("{}:{}", *sp->checkpoint_key, epoch),
                                      fmt::format("{}:{}", epoch, position));
        }
        sp->epoch_positions.clear();
        if (sp->position_pending) {
            sp->position_pending = false;
            checkpoints_.emplace_back(sp->checkpoint_key != nullptr ? *sp->checkpoint_key : std::string(),
                                      fmt::format("{}:{}", sp->position_epoch, sp->position));
        }
    }
}

void Worker::run_stages(bool tick) {
    streams_.clear();
    if (stages_.empty()) {
        return;
    }
    const std::int64_t wall = clock_.wall_ns();
    const std::int64_t mono = clock_.mono_ns();
    for (auto* slot : stages_) {
        slot->state.clear();
        const std::size_t in = records_.size();
        const std::size_t dead_before = dead_.size();
        const std::size_t streams_before = streams_.size();
        StageBatch b{records_, dead_, slot->state, streams_, wall, mono, tick, end_turn_};
        std::string failure;
        const std::int64_t started = slot->stats != nullptr ? mono_now_ns() : 0;
        try {
            slot->stage->process(b);
        } catch (const std::exception& e) {
            failure = e.what();
            if (failure.empty()) {
                failure = "exception without a message";
            }
        } catch (...) {
            failure = "unknown exception";
        }
        if (slot->stats != nullptr) {
            slot->stats->process_latency.observe(static_cast<double>(mono_now_ns() - started) / 1e9);
        }
        if (!failure.empty()) {
            stage_failed(*slot, streams_before, failure);
        } else if (slot->fail_log.active()) {
            slot->fail_log.clear();
            log::info("pipeline {}: stage '{}' processes batches again", opts_.pipeline, slot->id);
        }
        slot->metrics.received->inc(in);
        slot->metrics.sent->inc(records_.size());
        if (http::tap().active() && !records_.empty()) {
            http::tap().observe(slot->label, "stage", records_);
        }
        for (std::size_t i = dead_before; i < dead_.size(); ++i) {
            if (dead_[i].stage.empty()) {
                dead_[i].stage = slot->label;
            }
        }
        for (auto& c : slot->state) {
            state_.emplace_back(slot->id, std::move(c));
        }
        // Later stages of a timer turn see the records an earlier one emitted.
        tick = tick && records_.empty();
    }
}

void Worker::stage_failed(WorkerStage& slot, std::size_t streams_before, const std::string& what) {
    slot.metrics.errors->inc();
    slot.fail_log.warn("pipeline {}: stage '{}' failed on a batch; its {} records are stored as dead letters: {}",
                       opts_.pipeline, slot.id, records_.size(), what);
    // Nothing of the failed turn goes on but the records, as dead letters.
    slot.state.clear();
    streams_.erase(streams_.begin() + static_cast<std::ptrdiff_t>(streams_before), streams_.end());
    const std::int64_t now = clock_.wall_ns();
    for (const auto& r : records_) {
        DeadLetter d;
        d.time_ns = now;
        d.origin = r.origin;
        d.stage = slot.label;
        d.reason = fmt::format("stage failed: {}", what);
        append_record_json(d.payload, r);
        dead_.push_back(std::move(d));
    }
    records_.clear();
}

bool Worker::commit() {
    // Nothing is acknowledged before this commit; on failure (disk full, I/O
    // error) the batch is kept and retried, and the ingest queue fills up so
    // the sources slow down.
    Backoff& backoff = commit_backoff_;
    backoff.reset();
    for (;;) {
        const std::int64_t started = mono_now_ns();
        const auto keep_waiting = [this] {
            mark_turn();  // waiting for room on purpose, not hung
            return !give_up_.load();
        };
        auto res = encode_early_ ? buffer_.append_encoded(encoded_, dead_, checkpoints_, keep_waiting, state_)
                                 : buffer_.append(records_, dead_, checkpoints_, keep_waiting, state_);
        if (res.ok) {
            // Drops first: whoever sees the records counted sees the rows
            // they pushed out counted too (received = delivered + dropped +
            // buffered holds at every scrape).
            counters_.buffer_dropped->inc(res.dropped);
            counters_.records_in->inc(batch_records());
            counters_.dead_letters->inc(dead_.size());
            if (counters_.stats != nullptr) {
                note_commit(res, static_cast<double>(mono_now_ns() - started) / 1e9);
            }
            if (commit_log_.active()) {
                commit_log_.clear();
                log::info("pipeline {}: buffer commits again", opts_.pipeline);
                std::lock_guard lk(failure_mu_);
                commit_failure_.clear();
            }
            return true;
        }
        counters_.commit_errors->inc();
        {
            std::lock_guard lk(failure_mu_);
            commit_failure_ = res.error;
        }
        if (give_up_) {
            log::error("pipeline {}: {} records not committed at shutdown: {}", opts_.pipeline, batch_records(),
                       res.error);
            return false;
        }
        const auto wait = backoff.next();
        commit_log_.warn("pipeline {}: buffer commit failed, retrying with back-off up to {}: {}", opts_.pipeline,
                         format_duration(backoff.max()), res.error);
        // Waiting on purpose: keep turning for the watchdog meanwhile.
        const auto retry_at = clock_.mono_ns() + wait.count();
        for (auto left = wait; left.count() > 0 && !give_up_;
             left = std::chrono::nanoseconds(retry_at - clock_.mono_ns())) {
            mark_turn();
            clock_.sleep(std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(200)), give_up_);
        }
    }
}

void Worker::note_commit(const AppendResult& res, double seconds) {
    const std::int64_t arrival =
        arrival_count_ > 0
            ? arrival_base_ns_ + arrival_offset_sum_ / static_cast<std::int64_t>(arrival_count_)
            : 0;
    const bool none = batch_records() == 0;
    counters_.stats->committed(none ? 1 : res.first_id, none ? 0 : res.last_id, arrival,
                               seconds);
    if (topics_.empty()) {
        return;
    }
    for (const auto& d : dead_) {
        if (const auto it = topics_.find(d.origin); it != topics_.end()) {
            ++it->second.dead_letters;
        }
    }
    stats::hub().add_topics(opts_.pipeline, topics_, static_cast<double>(clock_.wall_ns()) / 1e9);
}

void Worker::tell_sources(bool committed) {
    for (auto* sp : sources_) {
        const std::size_t n = std::exchange(sp->batch_frames, 0);
        if (committed && n > 0 && sp->committed != nullptr && *sp->committed) {
            (*sp->committed)(n);
        }
    }
}

void Worker::publish_streams() {
    // Consecutive records for the same stream go out together.
    std::vector<Record> run;
    for (std::size_t i = 0; i < streams_.size();) {
        const std::string& name = streams_[i].first;
        run.clear();
        std::size_t j = i;
        for (; j < streams_.size() && streams_[j].first == name; ++j) {
            run.push_back(std::move(streams_[j].second));
        }
        if (stream_bus().publish(name, run) == 0) {
            counters_.stream_dropped->inc(run.size());
            no_stream_log_.warn("pipeline {}: no `stream` source listens on '{}'; {} records dropped",
                                opts_.pipeline, name, run.size());
        }
        i = j;
    }
    streams_.clear();
}

}  // namespace sluice
