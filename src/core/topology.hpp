#pragma once
// Topology mapping: turns a frame's origin (an MQTT topic, a file path) into
// tags and a measurement name, without code, after Kotori's strategies.
//
//   wan    realm/network/gateway/node[/slot]  → tags realm, network, gateway, node
//   lan    realm/node[/slot]                  → tags realm, node
//   regex  named groups (?P<name>...) or (?<name>...) become tags; a group
//          named "measurement" names the measurement
//
// The slot names the kind of data and becomes the measurement when the
// record has none: data.json, data, json → "sensors"; event.json, event,
// events → "events"; anything else → the slot without its extension.

#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice {

class Topology {
public:
    enum class Mode { Off, Wan, Lan, Regex };

    // mode: "off", "wan", "lan" or "regex" (then `pattern` is required).
    static std::optional<Topology> make(std::string_view mode, std::string_view pattern, std::string* error);

    bool enabled() const { return mode_ != Mode::Off; }
    // Adds the origin's tags to `r` (tags already there win) and sets the
    // measurement if the record has none. False if the origin does not fit.
    bool apply(std::string_view origin, Record& r) const;

private:
    Mode mode_ = Mode::Off;
    std::regex re_;
    std::vector<std::string> group_names_;  // index i ↔ capture group i+1; empty name: unnamed
};

// Kind of data named by a slot ("data.json" → "sensors").
std::string slot_kind(std::string_view slot);

}  // namespace sluice
