#include "stages/window/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::window {

namespace {

constexpr std::string_view kAggNames[] = {"count", "sum", "min", "max", "mean", "stddev",
                                          "first", "last", "rate", "delta"};

}  // namespace

std::string fmt_time(std::int64_t t) {
    std::string s;
    append_rfc3339(s, t);
    return s;
}

std::string fmt_dur(std::int64_t ns) { return format_duration(std::chrono::nanoseconds(ns)); }

std::optional<AggSpec> parse_agg(std::string_view text) {
    AggSpec a;
    for (std::size_t i = 0; i < std::size(kAggNames); ++i) {
        if (text == kAggNames[i]) {
            a.agg = static_cast<Agg>(i);
            a.out_name = std::string(text);
            return a;
        }
    }
    if (text.size() >= 2 && (text[0] == 'p' || text[0] == 'P')) {
        const std::string num(text.substr(1));
        char* end = nullptr;
        const double v = std::strtod(num.c_str(), &end);
        const bool digits = std::all_of(num.begin(), num.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
        if (digits && end == num.c_str() + num.size() && v >= 0 && v <= 100) {
            a.agg = Agg::Percentile;
            a.q = v / 100;
            a.out_name = "p" + num;
            std::replace(a.out_name.begin(), a.out_name.end(), '.', '_');
            return a;
        }
    }
    return std::nullopt;
}

Config parse_config(const Options& o) {
    Config c;
    const std::string& kind = o.str("kind");
    c.kind = kind == "hopping" ? WindowKind::Hopping : kind == "session" ? WindowKind::Session : WindowKind::Tumbling;
    c.time = o.str("time") == "processing" ? TimeMode::Processing : TimeMode::Event;
    c.size = o.duration("size").count();
    if (o.is_explicit("hop") && c.kind != WindowKind::Hopping) {
        throw ConfigError(fmt::format("'hop' is for kind = \"hopping\" (this window is {})", kind));
    }
    if (o.is_explicit("gap") && c.kind != WindowKind::Session) {
        throw ConfigError(fmt::format("'gap' is for kind = \"session\" (this window is {})", kind));
    }
    if (o.is_explicit("size") && c.kind == WindowKind::Session) {
        throw ConfigError("a session window has no 'size': it lasts until 'gap' passes without a record");
    }
    switch (c.kind) {
        case WindowKind::Tumbling:
            c.hop = c.size;
            break;
        case WindowKind::Hopping:
            if (!o.has("hop")) {
                throw ConfigError("kind = \"hopping\" needs 'hop' (how often a window starts, e.g. \"10s\")");
            }
            c.hop = o.duration("hop").count();
            if (c.hop > c.size) {
                throw ConfigError(fmt::format("'hop' ({}) must not be longer than 'size' ({})", fmt_dur(c.hop),
                                              fmt_dur(c.size)));
            }
            break;
        case WindowKind::Session:
            if (!o.has("gap")) {
                throw ConfigError("kind = \"session\" needs 'gap' (the silence that ends a session, e.g. \"5m\")");
            }
            c.gap = o.duration("gap").count();
            break;
    }
    if (c.kind != WindowKind::Session) {
        c.pane = std::gcd(c.size, c.hop);
        if (c.size / c.pane > kMaxPanesPerWindow) {
            throw ConfigError(fmt::format("'size' {} and 'hop' {} slice each window into {} panes (at most {}): choose "
                                          "a hop that divides the size more evenly",
                                          fmt_dur(c.size), fmt_dur(c.hop), c.size / c.pane, kMaxPanesPerWindow));
        }
    }
    c.lateness = o.duration("allowed_lateness").count();
    const std::string& late = o.str("late");
    c.late = late == "stream" ? LatePolicy::Stream : late == "drop" ? LatePolicy::Drop : LatePolicy::DeadLetter;
    c.late_stream = o.str_or("late_stream", "");
    if (c.late == LatePolicy::Stream && c.late_stream.empty()) {
        throw ConfigError("late = \"stream\" needs 'late_stream' (the stream a `stream` source reads)");
    }
    if (c.late != LatePolicy::Stream && !c.late_stream.empty()) {
        throw ConfigError("'late_stream' is only used with late = \"stream\"");
    }
    if (o.has("group_by")) {
        c.group_by = o.list("group_by");
    }
    if (o.has("group_by_fields")) {
        c.group_by_fields = o.list("group_by_fields");
    }
    std::vector<std::string> fields;
    if (o.has("fields")) {
        fields = o.list("fields");
    }
    auto field_index = [&](const std::string& name) {
        for (std::size_t i = 0; i < c.fields.size(); ++i) {
            if (c.fields[i].name == name) {
                return i;
            }
        }
        c.fields.push_back(FieldSpec{name, {}});
        return c.fields.size() - 1;
    };
    for (const auto& f : fields) {
        field_index(f);
    }
    auto add_agg = [&](std::size_t fi, AggSpec a) {
        auto& spec = c.fields[fi];
        a.out_name = spec.name + "_" + a.out_name;
        for (const auto& existing : spec.aggs) {
            if (existing.out_name == a.out_name) {
                return;
            }
        }
        c.percentiles = c.percentiles || a.agg == Agg::Percentile;
        spec.aggs.push_back(std::move(a));
    };
    const std::vector<std::string> aggregates = o.list_or_empty("aggregates");
    for (const auto& entry : aggregates) {
        const auto colon = entry.rfind(':');
        const std::string_view agg_text =
            colon == std::string::npos ? std::string_view(entry) : std::string_view(entry).substr(colon + 1);
        auto a = parse_agg(agg_text);
        if (!a) {
            std::string msg = fmt::format("unknown aggregate '{}' in 'aggregates'", agg_text);
            if (auto near = did_you_mean(agg_text, std::span<const std::string_view>(kAggNames))) {
                msg += fmt::format(" (did you mean '{}'?)", *near);
            } else {
                msg += " (count, sum, min, max, mean, stddev, first, last, rate, delta, or a percentile such as p99)";
            }
            throw ConfigError(msg);
        }
        if (colon != std::string::npos) {
            const std::string field = entry.substr(0, colon);
            if (field.empty()) {
                throw ConfigError(fmt::format("aggregate '{}' names no field before ':'", entry));
            }
            add_agg(field_index(field), *a);
        } else {
            for (std::size_t i = 0; i < fields.size(); ++i) {
                add_agg(field_index(fields[i]), *a);
            }
        }
    }
    if (c.fields.size() > 256) {
        throw ConfigError("at most 256 fields can be aggregated by one window stage");
    }
    c.accuracy = o.number("percentile_accuracy");
    c.max_buckets = static_cast<std::uint32_t>(o.integer("percentile_max_buckets"));
    c.measurement = o.str_or("measurement", "");
    c.max_groups = static_cast<std::size_t>(o.integer("max_groups"));
    c.evict = o.str("evict") == "drop" ? EvictPolicy::Drop : EvictPolicy::Emit;
    c.emit_partial = o.duration("emit_partial").count();
    c.idle_timeout = o.duration("idle_timeout").count();
    if (c.idle_timeout > 0 && c.time == TimeMode::Processing) {
        throw ConfigError("'idle_timeout' is for event-time windows; processing-time windows close on the clock");
    }
    const std::string mv = o.str("min_valid_time");
    if (mv == "off" || mv.empty()) {
        c.min_valid_time = -kTimeLimit;
    } else if (auto t = decoders::parse_iso8601(mv)) {
        c.min_valid_time = std::max(*t, -kTimeLimit);
    } else {
        throw ConfigError(fmt::format("min_valid_time: cannot read '{}' as a date (e.g. \"2020-01-01\") or \"off\"", mv));
    }
    c.max_future = o.duration("max_future").count();
    return c;
}

}  // namespace sluice::window
