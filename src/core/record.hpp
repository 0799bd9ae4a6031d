#pragma once
// The one record model every component speaks.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace sluice {

// Nanoseconds since the Unix epoch (UTC).
using TimeNs = std::int64_t;

// Raw bytes from the outside world plus where and when they came in.
struct Frame {
    std::string payload;
    std::string origin;        // topic, socket path, file path, IIO channel
    TimeNs arrival_ns = 0;     // wall clock when the source read it
    std::uint32_t source = 0;  // index of the source within its pipeline
    // Source position after this frame, persisted together with the batch
    // holding it under the source's SourceContext::checkpoint_key (for
    // example a file's inode and the offset just past this line).
    bool has_position = false;
    std::uint64_t position_epoch = 0;
    std::uint64_t position = 0;
    // Non-zero: the origin was longer than its source's max_origin_bytes and
    // was cut to that length; the frame becomes a dead letter.
    std::size_t origin_cut_from = 0;
};

using FieldValue = std::variant<double, std::int64_t, bool, std::string>;

struct Field {
    std::string name;
    FieldValue value;
};

struct Tag {
    std::string name;
    std::string value;
};

struct Record {
    TimeNs time_ns = 0;
    std::string measurement;  // may be empty; sinks fall back to a default
    std::string origin;
    std::vector<Tag> tags;
    std::vector<Field> fields;

    void clear() {
        time_ns = 0;
        measurement.clear();
        origin.clear();
        tags.clear();
        fields.clear();
    }
    const Field* field(std::string_view name) const {
        for (const auto& f : fields) {
            if (f.name == name) {
                return &f;
            }
        }
        return nullptr;
    }
    const std::string* tag(std::string_view name) const {
        for (const auto& t : tags) {
            if (t.name == name) {
                return &t.value;
            }
        }
        return nullptr;
    }
};

// A frame no decoder accepted, kept with the reason.
struct DeadLetter {
    TimeNs time_ns = 0;
    std::string origin;
    std::string stage;   // "decode", a sink name, ...
    std::string reason;
    std::string payload;
};

}  // namespace sluice
