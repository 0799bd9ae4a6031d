// The window stage: its lifecycle, its clocks and the per-record input path.

#include "stages/window/stage.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/record_json.hpp"
#include "stages/window/checkpoint.hpp"
#include "text/field_text.hpp"

namespace sluice::window {

WindowStage::WindowStage(Config c)
    : cfg_(std::move(c)), mapping_(cfg_.accuracy, cfg_.max_buckets) {
    scratch_.reset(cfg_.fields.size());
    fingerprint_ = state_fingerprint(cfg_);
}

void WindowStage::open(StageContext& ctx) {
    name_ = ctx.name;
    id_ = ctx.id;
    component_ = ctx.metrics;
    auto& m = metrics();
    const Labels labels{{"component", name_}};
    late_total_ = &m.counter("sluice_window_late_records_total",
                             "Records that came after their window closed (beyond allowed_lateness)", labels);
    invalid_total_ = &m.counter("sluice_window_invalid_time_records_total",
                                "Records whose time is before min_valid_time or beyond max_future", labels);
    emitted_total_ = &m.counter("sluice_window_emitted_total", "Windows emitted on close", labels);
    partial_total_ = &m.counter("sluice_window_partial_emitted_total", "Early partial window updates", labels);
    evicted_total_ = &m.counter("sluice_window_evictions_total",
                                "Groups evicted because max_groups were open", labels);
    discarded_total_ = &m.counter("sluice_window_state_discarded_total",
                                  "Stored window states dropped at start-up (unreadable or from another config)",
                                  labels);
    open_groups_gauge_ = &m.gauge("sluice_window_open_groups", "Groups with open windows", labels);
    watermark_gauge_ = &m.gauge("sluice_window_watermark_seconds",
                                "The window clock: event-time watermark or processing time (Unix seconds)",
                                labels);
    load(ctx);
}

std::chrono::nanoseconds WindowStage::tick_interval() const {
    std::int64_t t = 0;
    auto take = [&](std::int64_t v) {
        if (v > 0) {
            v = std::clamp<std::int64_t>(v, 10'000'000, 1'000'000'000);
            t = t == 0 ? v : std::min(t, v);
        }
    };
    if (cfg_.time == TimeMode::Processing) {
        take(cfg_.kind == WindowKind::Session ? cfg_.gap / 4 : cfg_.pane / 4);
    }
    take(cfg_.idle_timeout / 4);
    take(cfg_.emit_partial);
    return std::chrono::nanoseconds(t);
}

void WindowStage::process(StageBatch& b) {
    if (!clocks_started_) {
        start_clocks(b);
    }
    for (auto& ch : pending_erase_) {
        b.state.push_back(std::move(ch));
    }
    pending_erase_.clear();
    state_ = &b.state;
    if (fields_checked_ < kFieldCheckRecords) {
        check_fields(b);
    }
    std::int64_t pt = 0;
    if (cfg_.time == TimeMode::Processing) {
        pt = processing_now(b);
        wm_ = std::max(wm_, pt);
    }
    // Keys and hashes first, so the loop below can fetch each record's
    // group and pane from memory a few records ahead of using them.
    const std::size_t n = b.records.size();
    if (keys_.size() < n) {
        keys_.resize(n);
    }
    hashes_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        build_key(b.records[i], keys_[i]);
        hashes_[i] = hash_key(keys_[i]);
    }
    for (std::size_t i = 0; i < n; ++i) {
        prefetch_ahead(i, n);
        auto& r = b.records[i];
        if (cfg_.time == TimeMode::Event) {
            add_event(r, b, keys_[i], hashes_[i]);
        } else {
            add(r, pt, b, keys_[i], hashes_[i]);
        }
    }
    if (!b.records.empty()) {
        last_input_mono_ = b.mono_ns;
    } else if (cfg_.idle_timeout > 0 && cfg_.time == TimeMode::Event && open_groups_ > 0 &&
               b.mono_ns - last_input_mono_ >= cfg_.idle_timeout && max_end_seen_ > wm_) {
        // Idle: close every open window as if the watermark had passed it.
        wm_ = max_end_seen_;
    }
    b.records.clear();
    if (b.end_of_input) {
        // Nothing follows (`sluice test`): every open window closes now.
        wm_ = kTimeLimit + (std::int64_t{1} << 60);
    }
    close_through(wm_);
    if (cfg_.emit_partial > 0 && b.mono_ns - last_partial_mono_ >= cfg_.emit_partial) {
        last_partial_mono_ = b.mono_ns;
        emit_partials();
    }
    flush_emitted(b.records);
    checkpoint(b.state);
    state_ = nullptr;
    open_groups_gauge_->set(static_cast<double>(open_groups_));
    if (wm_ != kNone) {
        watermark_gauge_->set(static_cast<double>(wm_) / 1e9);
    }
}

void WindowStage::check_fields(const StageBatch& b) {
    field_seen_.resize(cfg_.fields.size(), false);
    for (const auto& r : b.records) {
        if (fields_checked_ >= kFieldCheckRecords) {
            break;
        }
        ++fields_checked_;
        for (std::size_t i = 0; i < cfg_.fields.size(); ++i) {
            if (!field_seen_[i] && r.field(cfg_.fields[i].name) != nullptr) {
                field_seen_[i] = true;
            }
        }
        for (const auto& f : r.fields) {
            if (names_seen_.size() < 32 && std::find(names_seen_.begin(), names_seen_.end(), f.name) == names_seen_.end()) {
                names_seen_.push_back(f.name);
            }
        }
    }
    const bool all_seen = std::all_of(field_seen_.begin(), field_seen_.end(), [](bool v) { return v; });
    if (all_seen) {
        fields_checked_ = kFieldCheckRecords;  // nothing more to look for
        return;
    }
    if (fields_checked_ < kFieldCheckRecords && !(b.end_of_input && fields_checked_ > 0)) {
        return;
    }
    std::sort(names_seen_.begin(), names_seen_.end());
    std::string seen;
    for (const auto& n : names_seen_) {
        seen += (seen.empty() ? "" : ", ") + n;
    }
    for (std::size_t i = 0; i < cfg_.fields.size(); ++i) {
        if (!field_seen_[i]) {
            log::warn("{}: window field '{}' is in none of the first {} records (fields seen: {}); its aggregates "
                      "stay empty (a misspelt name?)",
                      name_, cfg_.fields[i].name, fields_checked_, seen.empty() ? "none" : seen);
        }
    }
    fields_checked_ = kFieldCheckRecords;
    names_seen_.clear();
    names_seen_.shrink_to_fit();
}

void WindowStage::start_clocks(const StageBatch& b) {
    clocks_started_ = true;
    last_input_mono_ = b.mono_ns;
    last_partial_mono_ = b.mono_ns;
    // Processing time resumes where it stopped, or at the wall clock if
    // that is set and later (time spent down is not processing time
    // unless the wall clock says so).
    std::int64_t base = pt_stored_ != kNone ? pt_stored_ : b.wall_ns;
    if (b.wall_ns >= cfg_.min_valid_time && b.wall_ns > base) {
        base = b.wall_ns;
    }
    pt_base_ = base;
    mono_base_ = b.mono_ns;
}

std::int64_t WindowStage::processing_now(const StageBatch& b) {
    std::int64_t now = pt_base_ + (b.mono_ns - mono_base_);
    if (now < cfg_.min_valid_time && b.wall_ns >= cfg_.min_valid_time) {
        // The wall clock got set (a board without RTC after NTP): jump
        // forward to it once; windows passed on the way close now.
        log::info("{}: the wall clock is set now ({}); processing time jumps forward from {}", name_,
                  fmt_time(b.wall_ns), fmt_time(now));
        pt_base_ = b.wall_ns;
        mono_base_ = b.mono_ns;
        now = b.wall_ns;
    }
    pt_now_ = now;
    return now;
}

void WindowStage::prefetch_ahead(std::size_t i, std::size_t n) {
    if (table_.empty()) {
        return;
    }
    if (i + 12 < n) {
        table_.prefetch(hashes_[i + 12]);
    }
    auto candidate = [&](std::size_t j) -> const Group* {
        const std::uint32_t gid = table_.first_with_hash(hashes_[j]);
        return gid == kNil ? nullptr : &groups_[gid];
    };
    if (i + 8 < n) {
        if (const Group* g = candidate(i + 8)) {
            __builtin_prefetch(g);
            __builtin_prefetch(reinterpret_cast<const char*>(g) + 64);
        }
    }
    if (i + 4 < n) {
        if (const Group* g = candidate(i + 4); g != nullptr && g->live > 0) {
            const Pane& p = g->panes[g->live - 1];
            __builtin_prefetch(&p);
            __builtin_prefetch(reinterpret_cast<const char*>(&p) + 64);
        }
    }
    if (i + 2 < n) {
        if (const Group* g = candidate(i + 2); g != nullptr && g->live > 0) {
            const Pane& p = g->panes[g->live - 1];
            if (!p.data.fields.empty()) {
                __builtin_prefetch(p.data.fields.data());
                __builtin_prefetch(reinterpret_cast<const char*>(p.data.fields.data()) + 64);
                __builtin_prefetch(p.data.fields[0].sketch.hot());
            }
        }
    }
}

bool WindowStage::add_event(Record& r, StageBatch& b, const std::string& key, std::uint64_t h) {
    const std::int64_t t = r.time_ns;
    if (t < cfg_.min_valid_time || t < -kTimeLimit || t > kTimeLimit) {
        invalid_total_->inc();
        refuse(r, b, fmt::format("record time {} is before min_valid_time {} (a clock that was not set?)",
                                 fmt_time(t), fmt_time(cfg_.min_valid_time)));
        return false;
    }
    if (b.wall_ns >= cfg_.min_valid_time && t > b.wall_ns + cfg_.max_future) {
        invalid_total_->inc();
        refuse(r, b, fmt::format("record time {} is {} ahead of the gateway clock {} (max_future {})",
                                 fmt_time(t), fmt_dur(t - b.wall_ns), fmt_time(b.wall_ns),
                                 fmt_dur(cfg_.max_future)));
        return false;
    }
    if (!add(r, t, b, key, h)) {
        return false;
    }
    if (max_event_ == kNone || t > max_event_) {
        max_event_ = t;
        wm_ = std::max(wm_, t - cfg_.lateness);
        // Close what the watermark passed before the next record comes
        // in, so a window never takes a record that came after it
        // closed, however the input is cut into batches.
        if (!calendar_.empty() && calendar_.begin()->first <= wm_) {
            close_through(wm_);
        }
    }
    return true;
}

void WindowStage::refuse_late(Record& r, StageBatch& b, std::int64_t t, std::int64_t closed_end) {
    late_total_->inc();
    refuse(r, b, fmt::format("late record: time {} is {} behind the watermark {} (allowed_lateness {}); its "
                             "window closed at {}",
                             fmt_time(t), fmt_dur(wm_ - t), fmt_time(wm_), fmt_dur(cfg_.lateness),
                             fmt_time(closed_end)));
}

void WindowStage::refuse(Record& r, StageBatch& b, std::string reason) {
    switch (cfg_.late) {
        case LatePolicy::DeadLetter: {
            DeadLetter d;
            d.time_ns = b.wall_ns;
            d.origin = r.origin;
            d.reason = std::move(reason);
            append_record_json(d.payload, r);
            b.dead.push_back(std::move(d));
            break;
        }
        case LatePolicy::Stream:
            b.streams.emplace_back(cfg_.late_stream, std::move(r));
            break;
        case LatePolicy::Drop:
            if (component_ != nullptr) {
                component_->dropped->inc();
            }
            break;
    }
}

void WindowStage::build_key(const Record& r, std::string& key) const {
    key.clear();
    window::append_key_component(key, std::string_view(r.measurement));
    for (const auto& name : cfg_.group_by) {
        window::append_key_component(key, r.tag(name));
    }
    for (const auto& name : cfg_.group_by_fields) {
        const Field* f = r.field(name);
        if (f == nullptr) {
            window::append_key_component(key, static_cast<const std::string*>(nullptr));
        } else {
            window::append_key_component(key, sluice::field_text(f->value));
        }
    }
}

bool WindowStage::add(Record& r, std::int64_t t, StageBatch& b, const std::string& key, std::uint64_t h) {
    if (cfg_.kind == WindowKind::Session) {
        return add_session(r, t, b, key, h);
    }
    const std::int64_t ps = floor_div(t, cfg_.pane) * cfg_.pane;
    const std::int64_t last_end = floor_div(ps, cfg_.hop) * cfg_.hop + cfg_.size;
    if (wm_ != kNone && last_end <= wm_) {
        refuse_late(r, b, t, last_end);
        return false;
    }
    Group& g = group_for(r, key, h);
    const std::uint32_t gid = current_gid_;
    Pane& p = pane_at(g, ps);
    update(p, r, t);
    mark_dirty(g, gid, p);
    max_end_seen_ = std::max(max_end_seen_, last_end);
    const std::int64_t close = first_end_after(std::max(ps, wm_ == kNone ? ps : wm_));
    schedule(g, gid, close);
    return true;
}

void WindowStage::update(Pane& p, const Record& r, std::int64_t t) {
    PaneData& d = p.data;
    ++d.records;
    d.max_t = std::max(d.max_t, t);
    for (std::size_t i = 0; i < cfg_.fields.size(); ++i) {
        const Field* f = r.field(cfg_.fields[i].name);
        if (f == nullptr) {
            continue;
        }
        double x = 0;
        if (const auto* dv = std::get_if<double>(&f->value)) {
            x = *dv;
        } else if (const auto* iv = std::get_if<std::int64_t>(&f->value)) {
            x = static_cast<double>(*iv);
        } else if (const auto* bv = std::get_if<bool>(&f->value)) {
            x = *bv ? 1.0 : 0.0;
        } else {
            continue;
        }
        if (!std::isfinite(x)) {
            continue;
        }
        d.fields[i].acc.add(t, x);
        if (cfg_.percentiles) {
            d.fields[i].sketch.add(x, mapping_);
        }
    }
}

Group& WindowStage::group_for(const Record& r, const std::string& key, std::uint64_t h) {
    const std::uint32_t found = find_group(key, h);
    if (found != kNil) {
        current_gid_ = found;
        Group& g = groups_[found];
        g.referenced = true;
        return g;
    }
    while (open_groups_ >= cfg_.max_groups && open_groups_ > 0) {
        evict_one();
    }
    const std::uint32_t gid = new_group(key, h);
    Group& g = groups_[gid];
    g.measurement = cfg_.measurement.empty() ? r.measurement : cfg_.measurement;
    for (const auto& name : cfg_.group_by) {
        if (const std::string* v = r.tag(name)) {
            g.tags.push_back(Tag{name, *v});
        }
    }
    for (const auto& name : cfg_.group_by_fields) {
        if (const Field* f = r.field(name)) {
            g.tags.push_back(Tag{name, sluice::field_text(f->value)});
        }
    }
    current_gid_ = gid;
    return g;
}

}  // namespace sluice::window
