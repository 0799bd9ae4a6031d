#pragma once
// sluice's own binary record form on the wire: a 4-byte marker followed by
// the buffer's record encoding (src/buffer/README.md). The `stream` source
// hands records from one pipeline to another this way, so tags, field types
// and times arrive exactly as they were.

#include <string>
#include <string_view>

#include "buffer/buffer.hpp"
#include "core/record.hpp"

namespace sluice::decoders {

inline constexpr std::string_view kRecordFrameMarker{"\0SR1", 4};

// Appends the frame form of `r` to `out`.
inline void encode_record_frame(const Record& r, std::string& out) {
    out.append(kRecordFrameMarker);
    encode_record(r, out);
}

}  // namespace sluice::decoders
