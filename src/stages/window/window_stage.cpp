// The window stage: tumbling, hopping and session windows over event or
// processing time, with a watermark, group_by, aggregates (percentiles from
// a DDSketch), bounded memory and state checkpointed with the batch that
// changed it. README.md beside this file describes the behaviour; this
// comment only maps the code.
//
// Tumbling and hopping windows keep one pane per group and gcd(size, hop)
// slice of time, never one state per overlapping window: a window is the
// merge of its panes when it closes. Groups with windows to close are found
// through a calendar (close time → groups), so a watermark jump visits only
// the groups that have something to close, never every window in between.
//
// Files: config.* (options → Config), group_table.hpp (the group table),
// stage.hpp (the Stage class) with its members in stage.cpp, groups.cpp,
// panes.cpp, sessions.cpp, emit.*, checkpoint.*; window_state.* (the
// binary form of the state), sketch.* (the DDSketch). This file holds the
// descriptor: the option table.

#include <memory>

#include <fmt/format.h>

#include "core/component.hpp"
#include "stages/window/config.hpp"
#include "stages/window/stage.hpp"

namespace sluice::components {
namespace {

using window::parse_config;
using window::WindowStage;

}  // namespace

const Descriptor& stage_window() {
    static const Descriptor d{
        .kind = Kind::Stage,
        .name = "window",
        .summary = "Aggregates records over tumbling, hopping or session windows per group; the state survives "
                   "restarts and each window is emitted once",
        .options =
            {
                {.name = "kind", .type = OptionType::Enum, .default_value = "tumbling",
                 .doc = "tumbling: back-to-back windows of `size`; hopping: windows of `size` starting every `hop`; "
                        "session: a window per burst of records, closed after `gap` without one",
                 .choices = "tumbling|hopping|session"},
                {.name = "size", .type = OptionType::Duration, .default_value = "1m",
                 .doc = "Window length (tumbling, hopping); windows are aligned on the Unix epoch", .min = 1e-6,
                 .max = 366.0 * 86400},
                {.name = "hop", .type = OptionType::Duration,
                 .doc = "How often a hopping window starts (at most `size`)", .min = 1e-6, .max = 366.0 * 86400},
                {.name = "gap", .type = OptionType::Duration,
                 .doc = "Session windows: the silence after which a session closes", .min = 1e-6,
                 .max = 366.0 * 86400},
                {.name = "time", .type = OptionType::Enum, .default_value = "event",
                 .doc = "event: the record's own time; processing: when the stage sees the record (advances with the "
                        "monotonic clock)",
                 .choices = "event|processing"},
                {.name = "allowed_lateness", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Event time: the watermark trails the latest record time by this much; a window closes when "
                        "the watermark passes its end",
                 .min = 0, .max = 366.0 * 86400},
                {.name = "late", .type = OptionType::Enum, .default_value = "dead_letter",
                 .doc = "Where records go that come after their window closed, or whose time is invalid "
                        "(min_valid_time, max_future): dead_letter (with the reason), stream (`late_stream`), drop",
                 .choices = "dead_letter|stream|drop"},
                {.name = "late_stream", .type = OptionType::String,
                 .doc = "With late = \"stream\": the named stream a `stream` source reads them from", .min = 1,
                 .link = OptionLink::EmitsStream},
                {.name = "group_by", .type = OptionType::List,
                 .doc = "Tags whose values make a group (with the measurement); they become the output's tags"},
                {.name = "group_by_fields", .type = OptionType::List,
                 .doc = "Fields whose values also make the group; they become tags of the output"},
                {.name = "fields", .type = OptionType::List,
                 .doc = "Numeric fields to aggregate (integers and booleans count as numbers; strings are skipped)"},
                {.name = "aggregates", .type = OptionType::List, .default_value = "count,mean,min,max",
                 .doc = "Per field: count, sum, min, max, mean, stddev, first, last, rate, delta, pNN (p50, p99, "
                        "p99.9); \"FIELD:AGG\" applies to one field only. Output fields are FIELD_AGG"},
                {.name = "percentile_accuracy", .type = OptionType::Float, .default_value = "0.01",
                 .doc = "Relative error bound of percentiles (the DDSketch's α)", .min = 0.0001, .max = 0.2},
                {.name = "percentile_max_buckets", .type = OptionType::Int, .default_value = "2048",
                 .doc = "Buckets per sketch at most; beyond it the smallest magnitudes are merged", .min = 16,
                 .max = 65536},
                {.name = "measurement", .type = OptionType::String,
                 .doc = "Measurement of the output records (default: the input's)"},
                {.name = "max_groups", .type = OptionType::Int, .default_value = "10000",
                 .doc = "Groups with open windows at most (about 2.5 KiB each with six panes and percentiles); past "
                        "it the least recently updated group is evicted",
                 .min = 1, .max = 100'000'000},
                {.name = "evict", .type = OptionType::Enum, .default_value = "emit",
                 .doc = "What eviction does with a group's open windows: emit them now (field evicted = true) or drop "
                        "them",
                 .choices = "emit|drop"},
                {.name = "emit_partial", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Non-zero: this often (processing time), open windows that changed are also emitted early "
                        "with field partial = true",
                 .min = 0, .max = 86400},
                {.name = "idle_timeout", .type = OptionType::Duration, .default_value = "0s",
                 .doc = "Event time, non-zero: after this long without any record every open window closes",
                 .min = 0, .max = 366.0 * 86400},
                {.name = "min_valid_time", .type = OptionType::String, .default_value = "2020-01-01",
                 .doc = "Records stamped earlier are refused like late ones (a clock that was never set); \"off\" "
                        "accepts any time"},
                {.name = "max_future", .type = OptionType::Duration, .default_value = "1h",
                 .doc = "While the gateway clock is past min_valid_time, records stamped further ahead of it are "
                        "refused like late ones",
                 .min = 0, .max = 100.0 * 366 * 86400},
            },
        .make_stage = [](const Options& o) { return std::make_unique<WindowStage>(parse_config(o)); },
        // `sluice describe`: "tumbling 1m", "hopping 1m every 10s", "session gap 30s".
        .describe =
            [](const Options& o) {
                const auto d = [&](std::string_view n) {
                    return o.has(n) ? format_duration(o.duration(n)) : std::string("?");
                };
                std::string kind = o.str_or("kind", "");
                kind = kind.empty() ? "tumbling" : kind;
                std::string text = kind == "hopping"   ? fmt::format("hopping {} every {}", d("size"), d("hop"))
                                   : kind == "session" ? fmt::format("session gap {}", d("gap"))
                                                       : fmt::format("{} {}", kind, d("size"));
                return DescribeShape{.summary = std::move(text), .json_key = "window", .dot_shape = "box3d"};
            },
    };
    return d;
}

}  // namespace sluice::components
