#pragma once
// What one window of one group becomes in the window stage's output: its id
// and its aggregate fields. (WindowStage puts the record together in
// emit.cpp: time, measurement, tags, window_start, window_end, window_id,
// count, a partial/evicted flag, then these fields.)

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"
#include "stages/window/config.hpp"
#include "stages/window/sketch.hpp"
#include "stages/window/window_state.hpp"

namespace sluice::window {

// 16 hex digits: 64-bit FNV-1a of the stage id, a zero byte, the group key
// and the window start as 8 big-endian bytes. The same window of the same
// group gets the same id across restarts and releases (downstream may
// deduplicate by it).
std::string window_id(std::string_view stage_id, std::string_view key, std::int64_t start);

// Appends FIELD_AGG for each aggregate of each field in `fields` that has
// values in `d`, in that order; stddev needs two values and rate two
// distinct times, percentiles are kept within the field's min and max.
void append_aggregates(std::vector<Field>& out, const std::vector<FieldSpec>& fields, const PaneData& d,
                       const SketchMapping& m);

}  // namespace sluice::window
