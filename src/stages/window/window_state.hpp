#pragma once
// The window stage's durable state and its binary form. Everything here is
// read back from the buffer's database at start-up, which may be damaged on
// flash: every decode_* function rejects malformed input (returns false)
// without reading out of bounds. Fuzzed by tests/fuzz/window_state.
//
// Layout (all integers varints, zigzag for signed values, doubles as 8
// little-endian bytes of their IEEE 754 form):
//   meta  "m" → version 1, fingerprint, watermark, max event time, closed
//               through, processing clock (each int64 zigzag)
//   pane  "p" + group key + 8-byte start → version 1, records, max event
//         time, field count, per field: present flag, then count, sum,
//         m2, min, max, first time, first value, last time, last value,
//         and (when the stage keeps percentiles) the field's DDSketch
//   session windows use "s" keys with the same value layout (start = the
//   session's first event time, max event time = its last)
// A group key is: per component (measurement, each group_by tag, each
// group_by_fields field) a byte 0 (absent) or 1 followed by the length and
// the bytes of the value.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.hpp"
#include "stages/window/sketch.hpp"

namespace sluice::window {

// Running aggregates of one field over one pane (or a merged window).
struct FieldAcc {
    std::uint64_t n = 0;
    double sum = 0;
    double m2 = 0;  // sum of squared differences from the mean (Welford; the mean is sum / n)
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    std::int64_t first_t = 0;
    double first_v = 0;
    std::int64_t last_t = 0;
    double last_v = 0;

    void add(std::int64_t t, double x) {
        const double d = n == 0 ? 0.0 : x - sum / static_cast<double>(n);
        ++n;
        sum += x;
        m2 += d * (x - sum / static_cast<double>(n));
        min = x < min ? x : min;
        max = x > max ? x : max;
        if (n == 1 || t < first_t) {
            first_t = t;
            first_v = x;
        }
        if (n == 1 || t >= last_t) {
            last_t = t;
            last_v = x;
        }
    }
    // Adds `o`, whose records came after this one's (ties in time go to `o`
    // for last and to this one for first).
    void merge(const FieldAcc& o);
    void clear() { *this = FieldAcc{}; }
};

// One field's aggregates in a pane; the sketch stays empty unless the stage
// keeps percentiles.
struct FieldState {
    FieldAcc acc;
    DDSketch sketch;
};

// One pane (or session) of one group.
struct PaneData {
    std::uint64_t records = 0;
    std::int64_t max_t = std::numeric_limits<std::int64_t>::min();  // latest event time
    std::vector<FieldState> fields;

    void reset(std::size_t nfields);
    // `m` null: sketches are left alone (the stage keeps no percentiles).
    void merge(const PaneData& o, const SketchMapping* m);
};

// `m` null: the stage keeps no percentiles (no sketches stored).
void encode_pane(const PaneData& p, std::string& out, const SketchMapping* m);
bool decode_pane(std::string_view in, PaneData& out, std::size_t nfields, const SketchMapping* m);

struct Meta {
    static constexpr std::int64_t kNone = std::numeric_limits<std::int64_t>::min();
    std::uint64_t fingerprint = 0;
    std::int64_t watermark = kNone;
    std::int64_t max_event = kNone;
    std::int64_t closed_through = kNone;
    std::int64_t processing_clock = kNone;
};

void encode_meta(const Meta& m, std::string& out);
bool decode_meta(std::string_view in, Meta& out);

// Group keys: components that may be absent (a record without that tag).
void append_key_component(std::string& key, const std::string* value);
void append_key_component(std::string& key, std::string_view value);
bool decode_group_key(std::string_view key, std::vector<std::optional<std::string>>& out);

// State keys.
constexpr char kMetaKey[] = "m";
constexpr char kPanePrefix = 'p';
constexpr char kSessionPrefix = 's';
void make_state_key(std::string& out, char prefix, std::string_view group_key, std::int64_t start);
// Splits a pane or session key; false when it is not one.
bool split_state_key(std::string_view key, char& prefix, std::string_view& group_key, std::int64_t& start);

// 64-bit FNV-1a: stable across builds and platforms (window ids, fingerprints).
using ::sluice::fnv1a;

}  // namespace sluice::window
