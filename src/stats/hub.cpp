#include "stats/hub.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "core/clock.hpp"
#include "core/ioloop.hpp"
#include "core/record_json.hpp"

namespace sluice::stats {

namespace {

double mono_seconds() { return static_cast<double>(mono_now_ns()) / 1e9; }
double unix_seconds() { return static_cast<double>(wall_now_ns()) / 1e9; }

void num(std::string& out, double v) { append_double(out, std::isfinite(v) ? v : 0.0); }
void num(std::string& out, std::uint64_t v) { out += fmt::format("{}", v); }

void key(std::string& out, std::string_view k) {
    append_json_string(out, k);
    out += ':';
}

void append_summary(std::string& out, const LatencySummary& s) {
    out += "{\"count\":";
    num(out, s.count);
    out += ",\"avg\":";
    num(out, s.avg);
    out += ",\"p50\":";
    num(out, s.p50);
    out += ",\"p99\":";
    num(out, s.p99);
    out += '}';
}

std::uint64_t value(const Counter* c) { return c != nullptr ? c->value() : 0; }

struct BufferFigures {
    std::uint64_t rows = 0, bytes = 0, max_bytes = 0, lag_rows = 0;
};

BufferFigures buffer_figures(const PipelineStats& p) {
    BufferFigures f;
    f.max_bytes = p.buffer_max_bytes;
    if (p.buffer) {
        if (const auto snap = p.buffer()) {
            f.rows = snap->rows;
            f.bytes = snap->bytes;
            for (const auto& s : snap->sinks) {
                f.lag_rows += s.lag_rows;
            }
        }
    }
    return f;
}

void append_buffer(std::string& out, const BufferFigures& f) {
    out += "{\"rows\":";
    num(out, f.rows);
    out += ",\"bytes\":";
    num(out, f.bytes);
    out += ",\"max_bytes\":";
    num(out, f.max_bytes);
    out += ",\"fill\":";
    num(out, f.max_bytes > 0 ? std::min(1.0, static_cast<double>(f.bytes) / static_cast<double>(f.max_bytes)) : 0.0);
    out += '}';
}

void add_snapshot(LatencyHistogram::Snapshot& into, const LatencyHistogram::Snapshot& s) {
    for (std::size_t i = 0; i < into.counts.size(); ++i) {
        into.counts[i] += s.counts[i];
    }
    into.count += s.count;
    into.sum += s.sum;
}

}  // namespace

void PipelineStats::committed(std::uint64_t first_id, std::uint64_t last_id, std::int64_t arrival_ns,
                              double commit_seconds) {
    commit_latency.observe(commit_seconds);
    if (commit_metric != nullptr) {
        commit_metric->observe(commit_seconds);
    }
    if (last_id < first_id || first_id == 0 || arrival_ns <= 0 || sinks.empty()) {
        return;
    }
    std::lock_guard lk(arrivals_mu_);
    if (arrivals_.size() >= kMaxRanges) {
        arrivals_.pop_front();  // a long backlog: its oldest rows go unobserved
    }
    arrivals_.push_back({first_id, last_id, arrival_ns});
}

void PipelineStats::sink_confirmed(std::size_t index, std::uint64_t upto_id, std::int64_t now_ns) {
    if (index >= sinks.size()) {
        return;
    }
    auto& sink = *sinks[index];
    std::lock_guard lk(arrivals_mu_);
    if (sink_pos_.size() < sinks.size()) {
        sink_pos_.resize(sinks.size(), 0);
    }
    const std::uint64_t from = sink_pos_[index];
    if (upto_id <= from) {
        return;
    }
    // The first range that ends after what this sink had confirmed.
    auto it = std::lower_bound(arrivals_.begin(), arrivals_.end(), from + 1,
                               [](const Range& r, std::uint64_t id) { return r.last < id; });
    for (; it != arrivals_.end() && it->first <= upto_id; ++it) {
        const std::uint64_t lo = std::max(it->first, from + 1);
        const std::uint64_t hi = std::min(it->last, upto_id);
        if (hi < lo) {
            continue;
        }
        const double age = static_cast<double>(now_ns - it->arrival_ns) / 1e9;
        sink.end_to_end.observe(age, hi - lo + 1);
        end_to_end.observe(age, hi - lo + 1);
        if (end_to_end_metric != nullptr) {
            end_to_end_metric->observe(age, hi - lo + 1);
        }
    }
    sink_pos_[index] = upto_id;
    const std::uint64_t all = *std::min_element(sink_pos_.begin(), sink_pos_.end());
    while (!arrivals_.empty() && arrivals_.front().last <= all) {
        arrivals_.pop_front();
    }
}

StatsHub::StatsHub() : started_mono_(mono_seconds()) {}

StatsHub::~StatsHub() = default;

void StatsHub::start(IoLoop& loop) {
    {
        std::lock_guard lk(mu_);
        if (loop_ != nullptr) {
            return;
        }
        loop_ = &loop;
        started_mono_ = mono_seconds();  // uptime counts from the gateway's start
    }
    // Timers belong to the loop's thread; the hub's lock is not held here,
    // as a tick running meanwhile takes it.
    std::uint64_t timer = 0;
    loop.call([this, &loop, &timer] {
        timer = loop.add_timer(std::chrono::seconds(0), std::chrono::seconds(1),
                               [this] { tick(mono_seconds(), unix_seconds()); });
    });
    std::lock_guard lk(mu_);
    timer_ = timer;
}

void StatsHub::stop() {
    IoLoop* loop = nullptr;
    std::uint64_t timer = 0;
    {
        std::lock_guard lk(mu_);
        loop = std::exchange(loop_, nullptr);
        timer = std::exchange(timer_, 0);
    }
    if (loop != nullptr && timer != 0) {
        loop->call([loop, timer] { loop->cancel_timer(timer); });
    }
}

void StatsHub::set_max_topics(std::size_t n) {
    std::lock_guard lk(mu_);
    max_topics_ = n;
}

void StatsHub::add_pipeline(std::shared_ptr<PipelineStats> p) {
    std::lock_guard lk(mu_);
    pipelines_.push_back(std::move(p));
}

void StatsHub::remove_pipeline(const PipelineStats* p) {
    std::lock_guard lk(mu_);
    std::erase_if(pipelines_, [p](const auto& q) { return q.get() == p; });
}

void StatsHub::add_topics(const std::string& pipeline, const std::unordered_map<std::string, TopicDelta>& batch,
                          double now_unix) {
    std::lock_guard lk(mu_);
    auto pit = topics_.find(pipeline);
    if (pit == topics_.end()) {
        pit = topics_.emplace(pipeline, std::map<std::string, TopicCounts, std::less<>>{}).first;
    }
    auto& by_topic = pit->second;
    for (const auto& [topic, d] : batch) {
        TopicCounts* t = nullptr;
        auto it = by_topic.find(topic);
        if (it != by_topic.end()) {
            t = &it->second;
        } else if (topic_count_ < max_topics_) {
            t = &by_topic[topic];
            ++topic_count_;
        } else {
            t = &other_;
        }
        t->events += d.events;
        t->bytes += d.bytes;
        t->dead_letters += d.dead_letters;
        if (d.events > 0) {
            t->last_seen = now_unix;
        }
    }
}

void StatsHub::tick(double mono, double unix_now) {
    std::string point;
    {
        std::lock_guard lk(mu_);
        std::uint64_t ev = 0, rec = 0, dead = 0, lag = 0, bytes = 0, max_bytes = 0;
        LatencyHistogram::Snapshot e2e_sum, commit_sum;
        std::string per;
        per += '{';
        bool first = true;
        for (auto& pp : pipelines_) {
            auto& p = *pp;
            std::uint64_t p_ev = 0;
            for (auto& s : p.sources) {
                const auto n = value(s->frames);
                s->events.sample(mono, n);
                p_ev += n;
            }
            for (auto& s : p.stages) {
                s->in_rate.sample(mono, value(s->in));
                s->out_rate.sample(mono, value(s->out));
                s->process_window.sample(s->process_latency);
            }
            for (auto& s : p.sinks) {
                s->sent_rate.sample(mono, value(s->sent));
                s->send_window.sample(s->send_latency);
                s->e2e_window.sample(s->end_to_end);
            }
            p.events.sample(mono, p_ev);
            p.records_rate.sample(mono, value(p.records));
            p.dead_rate.sample(mono, value(p.dead_letters));
            const auto e2e = p.end_to_end.snapshot();
            const auto commit = p.commit_latency.snapshot();
            p.e2e_window.sample(e2e);
            p.commit_window.sample(commit);
            add_snapshot(e2e_sum, e2e);
            add_snapshot(commit_sum, commit);
            ev += p_ev;
            rec += value(p.records);
            dead += value(p.dead_letters);
            const auto bf = buffer_figures(p);
            lag += bf.lag_rows;
            bytes += bf.bytes;
            max_bytes += bf.max_bytes;
            if (!first) {
                per += ',';
            }
            first = false;
            key(per, p.name());
            per += "{\"events_rate\":";
            num(per, p.events.rate(1));
            per += ",\"records_rate\":";
            num(per, p.records_rate.rate(1));
            per += ",\"lag_rows\":";
            num(per, bf.lag_rows);
            per += '}';
        }
        per += '}';
        events_.sample(mono, ev);
        records_.sample(mono, rec);
        dead_.sample(mono, dead);
        e2e_window_.sample(e2e_sum);
        commit_window_.sample(commit_sum);
        for (auto& [pname, by_topic] : topics_) {
            for (auto& [tname, t] : by_topic) {
                t.rate.sample(mono, t.events);
            }
        }
        other_.rate.sample(mono, other_.events);

        point += "{\"time\":";
        num(point, unix_now);
        point += ",\"events_rate\":";
        num(point, events_.rate(1));
        point += ",\"records_rate\":";
        num(point, records_.rate(1));
        point += ",\"buffer_fill\":";
        num(point, max_bytes > 0 ? std::min(1.0, static_cast<double>(bytes) / static_cast<double>(max_bytes)) : 0.0);
        point += ",\"lag_rows\":";
        num(point, lag);
        point += ",\"latency_p99\":";
        num(point, e2e_window_.last_minute().p99);
        point += ",\"pipelines\":";
        point += per;
        point += '}';
        if (history_.size() >= kHistory) {
            history_.pop_front();
        }
        history_.push_back({unix_now, point});
    }
    std::vector<std::function<void(const std::string&)>> subs;
    {
        std::lock_guard lk(sub_mu_);
        for (const auto& [id, fn] : subscribers_) {
            subs.push_back(fn);
        }
    }
    for (const auto& fn : subs) {
        fn(point);
    }
}

void StatsHub::append_rates(std::string& out, const RateWindow& w) const {
    out += "{\"total\":";
    num(out, w.total());
    out += ",\"rate_1s\":";
    num(out, w.rate(1));
    out += ",\"rate_1m\":";
    num(out, w.rate(60));
    out += ",\"rate_15m\":";
    num(out, w.rate(900));
    out += '}';
}

void StatsHub::append_topic(std::string& out, const std::string& pipeline, const std::string& topic,
                            const TopicCounts& t) const {
    out += '{';
    if (!pipeline.empty() || !topic.empty()) {
        out += "\"topic\":";
        append_json_string(out, topic);
        out += ",\"pipeline\":";
        append_json_string(out, pipeline);
        out += ',';
    }
    // The total counts what the worker merged; the rates what the timer sampled.
    out += "\"events\":{\"total\":";
    num(out, t.events);
    out += ",\"rate_1s\":";
    num(out, t.rate.rate(1));
    out += ",\"rate_1m\":";
    num(out, t.rate.rate(60));
    out += ",\"rate_15m\":";
    num(out, t.rate.rate(900));
    out += "},\"bytes\":";
    num(out, t.bytes);
    out += ",\"dead_letters\":";
    num(out, t.dead_letters);
    out += ",\"last_seen\":";
    num(out, t.last_seen);
    out += '}';
}

void StatsHub::append_pipeline(std::string& out, PipelineStats& p, double unix_now) const {
    out += "{\"events\":";
    append_rates(out, p.events);
    out += ",\"records\":";
    append_rates(out, p.records_rate);
    out += ",\"dead_letters\":{\"total\":";
    num(out, value(p.dead_letters));
    out += ",\"rate_1m\":";
    num(out, p.dead_rate.rate(60));
    out += "},\"buffer\":";
    append_buffer(out, buffer_figures(p));
    out += ",\"latency\":{\"end_to_end\":";
    append_summary(out, p.e2e_window.last_minute());
    out += ",\"commit\":";
    append_summary(out, p.commit_window.last_minute());
    out += "},\"sources\":{";
    bool first = true;
    for (const auto& s : p.sources) {
        out += first ? "" : ",";
        first = false;
        key(out, s->id);
        out += "{\"type\":";
        append_json_string(out, s->type);
        out += ",\"up\":";
        out += (!s->up || s->up()) ? "true" : "false";
        out += ",\"events\":";
        append_rates(out, s->events);
        out += '}';
    }
    out += "},\"stages\":{";
    first = true;
    for (const auto& s : p.stages) {
        out += first ? "" : ",";
        first = false;
        key(out, s->id);
        out += "{\"type\":";
        append_json_string(out, s->type);
        out += ",\"in\":";
        append_rates(out, s->in_rate);
        out += ",\"out\":";
        append_rates(out, s->out_rate);
        out += ",\"errors\":";
        num(out, value(s->errors));
        out += '}';
    }
    out += "},\"sinks\":{";
    first = true;
    std::shared_ptr<const BufferStats> snap = p.buffer ? p.buffer() : nullptr;
    for (const auto& s : p.sinks) {
        out += first ? "" : ",";
        first = false;
        bool up = true;
        std::string last_error;
        if (s->status) {
            s->status(up, last_error);
        }
        std::uint64_t lag_rows = 0;
        double lag_seconds = 0;
        if (snap) {
            for (const auto& st : snap->sinks) {
                if (st.sink == s->id) {
                    lag_rows = st.lag_rows;
                    if (st.oldest_pending_ns != 0) {
                        lag_seconds = std::max(0.0, unix_now - static_cast<double>(st.oldest_pending_ns) / 1e9);
                    }
                }
            }
        }
        key(out, s->id);
        out += "{\"type\":";
        append_json_string(out, s->type);
        out += ",\"up\":";
        out += up ? "true" : "false";
        out += ",\"sent\":";
        append_rates(out, s->sent_rate);
        out += ",\"lag_rows\":";
        num(out, lag_rows);
        out += ",\"lag_seconds\":";
        num(out, lag_seconds);
        out += ",\"send_latency\":";
        append_summary(out, s->send_window.last_minute());
        out += ",\"end_to_end\":";
        append_summary(out, s->e2e_window.last_minute());
        out += ",\"last_error\":";
        append_json_string(out, last_error);
        out += '}';
    }
    out += "}}";
}

std::string StatsHub::stats_json() const {
    std::lock_guard lk(mu_);
    const double now = unix_seconds();
    std::string out;
    out.reserve(4096);
    out += "{\"version\":";
    append_json_string(out, SLUICE_VERSION);
    out += ",\"uptime_seconds\":";
    num(out, mono_seconds() - started_mono_);
    out += ",\"time\":";
    num(out, now);
    out += ",\"events\":";
    append_rates(out, events_);
    out += ",\"records\":";
    append_rates(out, records_);
    out += ",\"dead_letters\":{\"total\":";
    num(out, dead_.total());
    out += ",\"rate_1m\":";
    num(out, dead_.rate(60));
    out += "},\"buffer\":";
    BufferFigures all;
    for (const auto& p : pipelines_) {
        const auto f = buffer_figures(*p);
        all.rows += f.rows;
        all.bytes += f.bytes;
        all.max_bytes += f.max_bytes;
    }
    append_buffer(out, all);
    out += ",\"latency\":{\"end_to_end\":";
    append_summary(out, e2e_window_.last_minute());
    out += ",\"commit\":";
    append_summary(out, commit_window_.last_minute());
    out += "},\"pipelines\":{";
    bool first = true;
    for (const auto& p : pipelines_) {
        out += first ? "" : ",";
        first = false;
        key(out, p->name());
        append_pipeline(out, *p, now);
    }
    out += "},\"topics\":{\"tracked\":";
    num(out, static_cast<std::uint64_t>(topic_count_));
    out += ",\"max\":";
    num(out, static_cast<std::uint64_t>(max_topics_));
    out += ",\"other\":";
    append_topic(out, {}, {}, other_);
    out += "}}";
    return out;
}

std::string StatsHub::topics_json() const {
    std::lock_guard lk(mu_);
    std::string out = "{\"topics\":[";
    bool first = true;
    for (const auto& [pname, by_topic] : topics_) {
        for (const auto& [tname, t] : by_topic) {
            out += first ? "" : ",";
            first = false;
            append_topic(out, pname, tname, t);
        }
    }
    out += "],\"other\":";
    append_topic(out, {}, {}, other_);
    out += '}';
    return out;
}

std::string StatsHub::topic_json(std::string_view topic) const {
    std::lock_guard lk(mu_);
    for (const auto& [pname, by_topic] : topics_) {
        if (const auto it = by_topic.find(topic); it != by_topic.end()) {
            std::string out;
            append_topic(out, pname, it->first, it->second);
            return out;
        }
    }
    return {};
}

std::string StatsHub::task_json(std::string_view pipeline, std::string_view component) const {
    std::lock_guard lk(mu_);
    for (const auto& pp : pipelines_) {
        auto& p = *pp;
        if (p.name() != pipeline) {
            continue;
        }
        std::string out = "{\"component\":";
        append_json_string(out, fmt::format("{}/{}", pipeline, component));
        auto tail = [&](std::string_view kind, std::string_view type, const RateWindow& in, const RateWindow& outw,
                        std::uint64_t errors, const LatencySummary& lat) {
            out += ",\"kind\":";
            append_json_string(out, kind);
            out += ",\"type\":";
            append_json_string(out, type);
            out += ",\"in\":";
            append_rates(out, in);
            out += ",\"out\":";
            append_rates(out, outw);
            out += ",\"errors\":";
            num(out, errors);
            out += ",\"latency\":";
            append_summary(out, lat);
            out += '}';
        };
        for (const auto& s : p.sources) {
            if (s->id == component) {
                tail("source", s->type, s->events, s->events, value(s->errors), {});
                return out;
            }
        }
        for (const auto& s : p.stages) {
            if (s->id == component) {
                tail("stage", s->type, s->in_rate, s->out_rate, value(s->errors), s->process_window.last_minute());
                return out;
            }
        }
        for (const auto& s : p.sinks) {
            if (s->id == component) {
                tail("sink", s->type, s->sent_rate, s->sent_rate, value(s->errors), s->send_window.last_minute());
                return out;
            }
        }
    }
    return {};
}

std::string StatsHub::history_json(double since) const {
    std::lock_guard lk(mu_);
    std::string out = "{\"interval\":1,\"points\":[";
    bool first = true;
    for (const auto& p : history_) {
        if (p.time <= since) {
            continue;
        }
        out += first ? "" : ",";
        first = false;
        out += p.json;
    }
    out += "]}";
    return out;
}

std::string StatsHub::latest_point_json() const {
    std::lock_guard lk(mu_);
    return history_.empty() ? std::string("{}") : history_.back().json;
}

std::size_t StatsHub::history_size() const {
    std::lock_guard lk(mu_);
    return history_.size();
}

std::uint64_t StatsHub::subscribe(std::function<void(const std::string&)> fn) {
    std::lock_guard lk(sub_mu_);
    const auto id = next_sub_++;
    subscribers_.emplace_back(id, std::move(fn));
    return id;
}

void StatsHub::unsubscribe(std::uint64_t id) {
    std::lock_guard lk(sub_mu_);
    std::erase_if(subscribers_, [id](const auto& s) { return s.first == id; });
}

StatsHub& hub() {
    static StatsHub* h = new StatsHub();  // never destroyed: pipelines may outlive static destruction order
    return *h;
}

}  // namespace sluice::stats
