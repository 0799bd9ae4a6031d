#pragma once
// The window stage's settings as parsed from its options, and the time
// arithmetic and formatting every part of the stage shares.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "stages/window/window_state.hpp"

namespace sluice::window {

constexpr std::int64_t kNone = Meta::kNone;
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// Record times the stage can place: within about 146 years of 1970 (1824 to
// 2116), so window arithmetic never overflows.
constexpr std::int64_t kTimeLimit = std::int64_t{1} << 62;
// Panes per window at most (size / gcd(size, hop)).
constexpr std::int64_t kMaxPanesPerWindow = 4096;

enum class WindowKind { Tumbling, Hopping, Session };
enum class TimeMode { Event, Processing };
enum class LatePolicy { DeadLetter, Stream, Drop };
enum class EvictPolicy { Emit, Drop };
enum class Agg { Count, Sum, Min, Max, Mean, Stddev, First, Last, Rate, Delta, Percentile };

struct AggSpec {
    Agg agg = Agg::Count;
    double q = 0;          // Percentile: 0..1
    std::string out_name;  // "<field>_<aggregate>"
};

struct FieldSpec {
    std::string name;
    std::vector<AggSpec> aggs;
};

struct Config {
    WindowKind kind = WindowKind::Tumbling;
    TimeMode time = TimeMode::Event;
    std::int64_t size = 0;
    std::int64_t hop = 0;
    std::int64_t gap = 0;
    std::int64_t pane = 0;
    std::int64_t lateness = 0;
    LatePolicy late = LatePolicy::DeadLetter;
    std::string late_stream;
    std::vector<std::string> group_by;
    std::vector<std::string> group_by_fields;
    std::vector<FieldSpec> fields;
    bool percentiles = false;
    double accuracy = 0.01;
    std::uint32_t max_buckets = 2048;
    std::string measurement;
    std::size_t max_groups = 100000;
    EvictPolicy evict = EvictPolicy::Emit;
    std::int64_t emit_partial = 0;
    std::int64_t idle_timeout = 0;
    std::int64_t min_valid_time = 0;
    std::int64_t max_future = 0;
};

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

std::string fmt_time(std::int64_t t);
std::string fmt_dur(std::int64_t ns);

// One entry of `aggregates` without its "FIELD:" (count, ..., p99.9).
std::optional<AggSpec> parse_agg(std::string_view text);
// The stage's options (already resolved against its option specs) as a
// Config; throws ConfigError when they do not fit together.
Config parse_config(const Options& o);

}  // namespace sluice::window
