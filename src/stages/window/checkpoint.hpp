#pragma once
// What the window stage stores in the buffer with each batch, and reads back
// at start-up, is written by WindowStage (checkpoint.cpp) in the binary form
// of window_state.hpp. Stored states are only read back by a stage whose
// settings give them the same shape; this fingerprint tells.

#include <cstdint>

#include "stages/window/config.hpp"

namespace sluice::window {

// A hash of the settings that shape the stored state: kind, size, hop, gap,
// time, whether percentiles are kept (and their accuracy and bucket limit
// when they are), group_by, group_by_fields and the aggregated fields. A
// stored meta with another fingerprint is discarded at start-up, so the
// value must stay the same from one release to the next for the same
// settings (tests/unit/window_config_test.cpp pins one).
std::uint64_t state_fingerprint(const Config& cfg);

}  // namespace sluice::window
