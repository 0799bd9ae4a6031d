// The window stage's groups: the open-addressing table that finds them by
// key, new and removed groups, and eviction at max_groups.

#include "stages/window/stage.hpp"

#include <algorithm>

#include "core/log.hpp"

namespace sluice::window {

std::uint32_t WindowStage::new_group(std::string_view key, std::uint64_t h) {
    std::uint32_t gid = 0;
    if (!free_.empty()) {
        gid = free_.back();
        free_.pop_back();
    } else {
        gid = static_cast<std::uint32_t>(groups_.size());
        groups_.emplace_back();
    }
    Group& g = groups_[gid];
    g.key.assign(key);
    g.hash = h;
    g.used = true;
    g.referenced = false;
    g.live = 0;
    g.next_close = kNever;
    g.dirty = false;
    g.partial_dirty = false;
    g.tags.clear();
    g.measurement.clear();
    if (g.panes.capacity() == 0) {
        // The panes one window spans, and the next one starting.
        g.panes.reserve(cfg_.kind == WindowKind::Session ? 1 : static_cast<std::size_t>(cfg_.size / cfg_.pane) + 1);
    }
    table_insert(h, gid);
    ++open_groups_;
    return gid;
}

void WindowStage::remove_group(std::uint32_t gid) {
    Group& g = groups_[gid];
    for (std::size_t i = 0; i < g.live; ++i) {
        forget_stored(g, g.panes[i]);
    }
    g.live = 0;
    table_erase(g.hash, gid);
    g.used = false;
    ++g.generation;
    g.key.clear();
    g.tags.clear();
    g.panes.clear();
    g.panes.shrink_to_fit();
    free_.push_back(gid);
    --open_groups_;
}

void WindowStage::evict(std::uint32_t gid) {
    evicted_total_->inc();
    if (cfg_.evict == EvictPolicy::Emit) {
        emit_open(gid, "evicted");
    }
    if (!evict_warned_) {
        evict_warned_ = true;
        log::warn("{}: more than max_groups ({}) groups have open windows; the least recently updated are "
                  "evicted ({}); see sluice_window_evictions_total",
                  name_, cfg_.max_groups, cfg_.evict == EvictPolicy::Emit ? "emitted early" : "dropped");
    }
    remove_group(gid);
}

void WindowStage::evict_one() {
    for (;;) {
        if (hand_ >= groups_.size()) {
            hand_ = 0;
        }
        Group& g = groups_[hand_];
        const std::uint32_t gid = hand_++;
        if (!g.used) {
            continue;
        }
        if (g.referenced) {
            g.referenced = false;
            continue;
        }
        evict(gid);
        return;
    }
}

void WindowStage::table_insert(std::uint64_t h, std::uint32_t gid) {
    if ((table_used_ + 1) * 2 > table_.size()) {
        std::vector<Slot> old(std::max<std::size_t>(64, table_.size() * 2));
        old.swap(table_);
        table_used_ = 0;
        for (const auto& s : old) {
            if (s.gid != kNil) {
                table_place(s.hash, s.gid);
            }
        }
    }
    table_place(h, gid);
}

void WindowStage::table_place(std::uint64_t h, std::uint32_t gid) {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = h & mask;
    while (table_[i].gid != kNil) {
        i = (i + 1) & mask;
    }
    table_[i] = Slot{h, gid};
    ++table_used_;
}

void WindowStage::table_erase(std::uint64_t h, std::uint32_t gid) {
    const std::size_t mask = table_.size() - 1;
    std::size_t i = h & mask;
    while (table_[i].gid != gid) {
        i = (i + 1) & mask;
    }
    // Backward-shift deletion: later entries of the run move up so no
    // lookup stops early at the hole.
    for (std::size_t j = (i + 1) & mask; table_[j].gid != kNil; j = (j + 1) & mask) {
        const std::size_t home = table_[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            table_[i] = table_[j];
            i = j;
        }
    }
    table_[i] = Slot{};
    --table_used_;
}

}  // namespace sluice::window
