// The window stage's durable state: what each batch writes (the panes it
// changed, the meta) and what start-up reads back. The binary form is in
// window_state.*.

#include "stages/window/checkpoint.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"
#include "stages/window/stage.hpp"

namespace sluice::window {

std::uint64_t state_fingerprint(const Config& cfg) {
    std::string s = fmt::format("window v1|{}|{}|{}|{}|{}|{}", static_cast<int>(cfg.kind), cfg.size, cfg.hop, cfg.gap,
                                static_cast<int>(cfg.time), cfg.percentiles);
    if (cfg.percentiles) {
        s += fmt::format("|{}|{}", cfg.accuracy, cfg.max_buckets);
    }
    for (const auto& n : cfg.group_by) {
        s += "|t:" + n;
    }
    for (const auto& n : cfg.group_by_fields) {
        s += "|f:" + n;
    }
    for (const auto& f : cfg.fields) {
        s += "|a:" + f.name;
    }
    return window::fnv1a(s);
}

void WindowStage::checkpoint(std::vector<StateChange>& out) {
    for (const auto gid : dirty_) {
        Group& g = groups_[gid];
        if (!g.used || !g.dirty) {
            continue;
        }
        g.dirty = false;
        for (std::size_t i = 0; i < g.live; ++i) {
            Pane& p = g.panes[i];
            if (!p.dirty) {
                continue;
            }
            p.dirty = false;
            if (p.persisted_start != kNone && p.persisted_start != p.start) {
                StateChange gone;
                window::make_state_key(gone.key, prefix(), g.key.view(), p.persisted_start);
                gone.erase = true;
                out.push_back(std::move(gone));
            }
            StateChange ch;
            window::make_state_key(ch.key, prefix(), g.key.view(), p.start);
            ch.value.reserve(value_reserve_);
            window::encode_pane(p.data, ch.value, cfg_.percentiles ? &mapping_ : nullptr);
            value_reserve_ = std::max(value_reserve_, ch.value.size());
            out.push_back(std::move(ch));
            p.persisted_start = p.start;
        }
    }
    dirty_.clear();
    Meta m;
    m.fingerprint = fingerprint_;
    m.watermark = wm_;
    m.max_event = max_event_;
    m.closed_through = closed_through_;
    m.processing_clock = cfg_.time == TimeMode::Processing ? pt_now_ : kNone;
    if (!meta_stored_ || m.watermark != stored_meta_.watermark || m.max_event != stored_meta_.max_event ||
        m.closed_through != stored_meta_.closed_through || m.processing_clock != stored_meta_.processing_clock) {
        StateChange ch;
        ch.key = window::kMetaKey;
        window::encode_meta(m, ch.value);
        out.push_back(std::move(ch));
        stored_meta_ = m;
        meta_stored_ = true;
    }
}

void WindowStage::load(StageContext& ctx) {
    if (!ctx.load_state) {
        return;
    }
    bool have_meta = false;
    Meta meta;
    ctx.load_state([&](std::string_view key, std::string_view value) {
        if (key == window::kMetaKey) {
            have_meta = window::decode_meta(value, meta);
        }
    });
    const bool usable = have_meta && meta.fingerprint == fingerprint_;
    std::size_t discarded = 0;
    std::size_t loaded = 0;
    std::vector<std::optional<std::string>> parts;
    PaneData data;
    const std::size_t nparts = 1 + cfg_.group_by.size() + cfg_.group_by_fields.size();
    ctx.load_state([&](std::string_view key, std::string_view value) {
        if (key == window::kMetaKey) {
            if (!usable) {
                StateChange ch;
                ch.key = std::string(key);
                ch.erase = true;
                pending_erase_.push_back(std::move(ch));
            }
            return;
        }
        char pfx = 0;
        std::string_view gkey;
        std::int64_t start = 0;
        const bool ok = usable && window::split_state_key(key, pfx, gkey, start) && pfx == prefix() &&
                        window::decode_group_key(gkey, parts) && parts.size() == nparts &&
                        parts[0].has_value() &&
                        window::decode_pane(value, data, cfg_.fields.size(),
                                            cfg_.percentiles ? &mapping_ : nullptr) &&
                        data.records > 0 && start >= -kTimeLimit && start <= kTimeLimit &&
                        data.max_t >= -kTimeLimit && data.max_t <= kTimeLimit;
        if (!ok) {
            ++discarded;
            StateChange ch;
            ch.key = std::string(key);
            ch.erase = true;
            pending_erase_.push_back(std::move(ch));
            return;
        }
        restore(gkey, parts, start, data);
        ++loaded;
    });
    if (usable) {
        wm_ = meta.watermark;
        max_event_ = meta.max_event;
        closed_through_ = meta.closed_through;
        pt_stored_ = meta.processing_clock;
        stored_meta_ = meta;
        meta_stored_ = true;
    } else if (have_meta) {
        log::warn("{}: the window settings changed since the state was stored; {} open window states discarded",
                  name_, discarded);
    }
    if (discarded > 0) {
        discarded_total_->inc(discarded);
        if (usable) {
            log::warn("{}: {} stored window states could not be read and were discarded", name_, discarded);
        }
    }
    // Schedule every restored group.
    for (std::uint32_t gid = 0; gid < groups_.size(); ++gid) {
        Group& g = groups_[gid];
        if (!g.used || g.live == 0) {
            continue;
        }
        std::int64_t at = kNever;
        if (cfg_.kind == WindowKind::Session) {
            for (std::size_t i = 0; i < g.live; ++i) {
                at = std::min(at, g.panes[i].data.max_t + cfg_.gap);
                max_end_seen_ = std::max(max_end_seen_, g.panes[i].data.max_t + cfg_.gap);
            }
        } else {
            at = first_end_after(wm_ == kNone ? g.panes[0].start : std::max(wm_, g.panes[0].start));
            const std::int64_t last = g.panes[g.live - 1].start;
            max_end_seen_ = std::max(max_end_seen_, floor_div(last, cfg_.hop) * cfg_.hop + cfg_.size);
        }
        schedule(g, gid, at);
    }
    if (loaded > 0) {
        log::info("{}: restored {} open window states of {} groups (watermark {})", name_, loaded, open_groups_,
                  wm_ == kNone ? std::string("none") : fmt_time(wm_));
    }
    open_groups_gauge_->set(static_cast<double>(open_groups_));
}

void WindowStage::restore(std::string_view gkey, const std::vector<std::optional<std::string>>& parts,
                          std::int64_t start, PaneData& data) {
    const std::uint64_t h = hash_key(gkey);
    std::uint32_t gid = find_group(gkey, h);
    if (gid == kNil) {
        gid = new_group(gkey, h);
        Group& g = groups_[gid];
        g.measurement = cfg_.measurement.empty() ? *parts[0] : cfg_.measurement;
        std::size_t k = 1;
        for (const auto& name : cfg_.group_by) {
            if (parts[k].has_value()) {
                g.tags.push_back(Tag{name, *parts[k]});
            }
            ++k;
        }
        for (const auto& name : cfg_.group_by_fields) {
            if (parts[k].has_value()) {
                g.tags.push_back(Tag{name, *parts[k]});
            }
            ++k;
        }
    }
    Group& g = groups_[gid];
    Pane& p = insert_pane(g, start);
    std::swap(p.data, data);
    p.persisted_start = start;
}

}  // namespace sluice::window
