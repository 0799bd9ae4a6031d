// The panes of a group (tumbling and hopping windows, and the sessions
// of session windows) and the calendar that closes windows as the
// watermark passes their end.

#include "stages/window/stage.hpp"

#include <algorithm>
#include <utility>

namespace sluice::window {

Pane& WindowStage::insert_pane(Group& g, std::int64_t start) {
    std::size_t i = g.live;
    while (i > 0 && g.panes[i - 1].start > start) {
        --i;
    }
    return insert_pane_at(g, i, start);
}

Pane& WindowStage::insert_pane_at(Group& g, std::size_t i, std::int64_t start) {
    if (g.live == g.panes.size()) {
        g.panes.emplace_back();
    }
    // Reuse the slot after the live ones (its buffers keep their capacity).
    for (std::size_t k = g.live; k > i; --k) {
        std::swap(g.panes[k], g.panes[k - 1]);
    }
    ++g.live;
    Pane& p = g.panes[i];
    p.start = start;
    p.persisted_start = kNone;
    p.dirty = false;
    p.data.reset(cfg_.fields.size());
    return p;
}

void WindowStage::remove_pane(Group& g, std::size_t i) {
    forget_stored(g, g.panes[i]);
    for (std::size_t k = i; k + 1 < g.live; ++k) {
        std::swap(g.panes[k], g.panes[k + 1]);
    }
    --g.live;
}

void WindowStage::drop_front(Group& g, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        forget_stored(g, g.panes[i]);
    }
    std::rotate(g.panes.begin(), g.panes.begin() + static_cast<std::ptrdiff_t>(n),
                g.panes.begin() + static_cast<std::ptrdiff_t>(g.live));
    g.live -= n;
}

void WindowStage::forget_stored(const Group& g, Pane& p) {
    if (p.persisted_start != kNone && state_ != nullptr) {
        StateChange ch;
        window::make_state_key(ch.key, prefix(), g.key.view(), p.persisted_start);
        ch.erase = true;
        state_->push_back(std::move(ch));
    } else if (p.persisted_start != kNone) {
        StateChange ch;
        window::make_state_key(ch.key, prefix(), g.key.view(), p.persisted_start);
        ch.erase = true;
        pending_erase_.push_back(std::move(ch));
    }
    p.persisted_start = kNone;
    p.dirty = false;
}

void WindowStage::close_through(std::int64_t wm) {
    if (wm == kNone) {
        return;
    }
    while (!calendar_.empty() && calendar_.begin()->first <= wm) {
        const std::int64_t at = calendar_.begin()->first;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> due = std::move(calendar_.begin()->second);
        calendar_.erase(calendar_.begin());
        for (const auto& [gid, gen] : due) {
            Group& g = groups_[gid];
            if (!g.used || g.generation != gen || g.next_close != at) {
                continue;  // evicted, or rescheduled since
            }
            close_group(gid, wm);
        }
    }
    closed_through_ = std::max(closed_through_, wm);
}

void WindowStage::close_group(std::uint32_t gid, std::int64_t wm) {
    Group& g = groups_[gid];
    g.next_close = kNever;
    if (cfg_.kind == WindowKind::Session) {
        close_sessions(g, wm);
    } else {
        // Every window with data that ends in (closed_through_, wm].
        for_each_window(g, closed_through_, wm, [&](std::int64_t start, std::int64_t end, const PaneData& d) {
            emit(g, start, end, d, nullptr);
        });
        std::size_t dead = 0;
        while (dead < g.live &&
               floor_div(g.panes[dead].start, cfg_.hop) * cfg_.hop + cfg_.size <= wm) {
            ++dead;
        }
        drop_front(g, dead);
        if (g.live > 0) {
            g.next_close = first_end_after(std::max(wm, g.panes[0].start));
        }
    }
    if (g.live == 0) {
        remove_group(gid);
        return;
    }
    calendar_[g.next_close].push_back({gid, g.generation});
}

}  // namespace sluice::window
