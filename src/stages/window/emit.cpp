// The window stage's output: one record per window and group, sorted so
// the output does not depend on how the input was cut into batches.

#include "stages/window/emit.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "stages/window/stage.hpp"

namespace sluice::window {

std::string window_id(std::string_view stage_id, std::string_view key, std::int64_t start) {
    std::uint64_t h = window::fnv1a(stage_id);
    h = window::fnv1a(std::string_view("\0", 1), h);
    h = window::fnv1a(key, h);
    char be[8];
    const auto u = static_cast<std::uint64_t>(start);
    for (int i = 0; i < 8; ++i) {
        be[i] = static_cast<char>((u >> (8 * (7 - i))) & 0xff);
    }
    h = window::fnv1a(std::string_view(be, 8), h);
    return fmt::format("{:016x}", h);
}

void append_aggregates(std::vector<Field>& out, const std::vector<FieldSpec>& fields, const PaneData& d,
                       const SketchMapping& m) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
        const FieldAcc& a = d.fields[i].acc;
        if (a.n == 0) {
            continue;
        }
        for (const auto& agg : fields[i].aggs) {
            switch (agg.agg) {
                case Agg::Count:
                    out.push_back(Field{agg.out_name, static_cast<std::int64_t>(a.n)});
                    break;
                case Agg::Sum:
                    out.push_back(Field{agg.out_name, a.sum});
                    break;
                case Agg::Min:
                    out.push_back(Field{agg.out_name, a.min});
                    break;
                case Agg::Max:
                    out.push_back(Field{agg.out_name, a.max});
                    break;
                case Agg::Mean:
                    out.push_back(Field{agg.out_name, a.sum / static_cast<double>(a.n)});
                    break;
                case Agg::Stddev:
                    if (a.n >= 2) {
                        out.push_back(
                            Field{agg.out_name, std::sqrt(std::max(0.0, a.m2) / static_cast<double>(a.n - 1))});
                    }
                    break;
                case Agg::First:
                    out.push_back(Field{agg.out_name, a.first_v});
                    break;
                case Agg::Last:
                    out.push_back(Field{agg.out_name, a.last_v});
                    break;
                case Agg::Rate:
                    if (a.last_t > a.first_t) {
                        out.push_back(Field{agg.out_name, (a.last_v - a.first_v) /
                                                              (static_cast<double>(a.last_t - a.first_t) / 1e9)});
                    }
                    break;
                case Agg::Delta:
                    out.push_back(Field{agg.out_name, a.last_v - a.first_v});
                    break;
                case Agg::Percentile:
                    out.push_back(Field{agg.out_name, std::clamp(d.fields[i].sketch.quantile(agg.q, m), a.min, a.max)});
                    break;
            }
        }
    }
}

void WindowStage::emit_open(std::uint32_t gid, const char* flag) {
    Group& g = groups_[gid];
    auto mark = [&](std::int64_t end) { return wm_ != kNone && end <= wm_ ? nullptr : flag; };
    if (cfg_.kind == WindowKind::Session) {
        for (std::size_t i = 0; i < g.live; ++i) {
            const std::int64_t end = g.panes[i].data.max_t + cfg_.gap;
            emit(g, g.panes[i].start, end, g.panes[i].data, mark(end));
        }
        return;
    }
    for_each_window(g, closed_through_, kNever, [&](std::int64_t start, std::int64_t end, const PaneData& d) {
        emit(g, start, end, d, mark(end));
    });
}

void WindowStage::emit_open_partial(std::uint32_t gid) {
    Group& g = groups_[gid];
    if (cfg_.kind == WindowKind::Session) {
        for (std::size_t i = 0; i < g.live; ++i) {
            emit(g, g.panes[i].start, g.panes[i].data.max_t + cfg_.gap, g.panes[i].data, "partial");
        }
        return;
    }
    for_each_window(g, std::max(closed_through_, wm_), kNever,
                    [&](std::int64_t start, std::int64_t end, const PaneData& d) {
                        emit(g, start, end, d, "partial");
                    });
}

void WindowStage::emit_partials() {
    for (const auto gid : partial_) {
        Group& g = groups_[gid];
        if (!g.used || !g.partial_dirty) {
            continue;
        }
        g.partial_dirty = false;
        emit_open_partial(gid);
    }
    partial_.clear();
}

void WindowStage::emit(const Group& g, std::int64_t start, std::int64_t end, const PaneData& d, const char* flag) {
    Emitted e;
    e.end = end;
    e.start = start;
    e.key = std::string(g.key.view());
    Record& r = e.record;
    r.time_ns = end;
    r.measurement = g.measurement;
    r.tags = g.tags;
    r.fields.reserve(4 + cfg_.fields.size() * 4);
    r.fields.push_back(Field{"window_start", start});
    r.fields.push_back(Field{"window_end", end});
    r.fields.push_back(Field{"window_id", window_id(id_, g.key.view(), start)});
    r.fields.push_back(Field{"count", static_cast<std::int64_t>(d.records)});
    if (flag != nullptr) {
        r.fields.push_back(Field{flag, true});
    }
    append_aggregates(r.fields, cfg_.fields, d, mapping_);
    if (flag == nullptr) {
        emitted_total_->inc();
    } else if (std::string_view(flag) == "partial") {
        partial_total_->inc();
    }
    emitted_.push_back(std::move(e));
}

void WindowStage::flush_emitted(std::vector<Record>& out) {
    std::stable_sort(emitted_.begin(), emitted_.end(), [](const Emitted& a, const Emitted& b) {
        if (a.end != b.end) {
            return a.end < b.end;
        }
        if (a.key != b.key) {
            return a.key < b.key;
        }
        return a.start < b.start;
    });
    out.reserve(emitted_.size());
    for (auto& e : emitted_) {
        out.push_back(std::move(e.record));
    }
    emitted_.clear();
}

}  // namespace sluice::window
