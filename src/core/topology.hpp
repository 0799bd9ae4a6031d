#pragma once
// Topology mapping: turns a frame's origin (an MQTT topic, a file path) into
// tags and a measurement name, without code, after Kotori's strategies and
// Telegraf's topic_parsing.
//
//   wan      realm/network/gateway/node[/slot]  → tags realm, network, gateway, node
//   lan      realm/node[/slot]                  → tags realm, node
//   pattern  topology_pattern, '/'-separated segments: a literal must be equal,
//            {name} takes the segment as tag `name` ({measurement} names the
//            measurement), + takes any one segment, # (last only) any rest,
//            none included: "{realm}/{network}/+/{node}/#"
//   regex    topology_regex, an RE2 expression over the whole origin whose
//            named groups (?P<name>...) or (?<name>...) become tags; a group
//            named "measurement" names the measurement
//
// The slot names the kind of data and becomes the measurement when the
// record has none: data.json, data, json → "sensors"; event.json, event,
// events → "events"; anything else → the slot without its extension.
//
// Every mode runs in time linear in the origin and in bounded stack: an
// origin is outside input (a peer chooses its topic). The regex mode uses
// RE2, which guarantees both; builds without RE2 (SLUICE_WITH_RE2=OFF)
// refuse it at configuration time.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace re2 {
class RE2;
}

namespace sluice {

class Topology {
public:
    enum class Mode { Off, Wan, Lan, Pattern, Regex };

    // mode: "off", "wan", "lan", "pattern" (then `pattern` is required) or
    // "regex" (then `regex` is required). nullopt with `error` set when the
    // mode, pattern or expression is wrong.
    static std::optional<Topology> make(std::string_view mode, std::string_view pattern, std::string_view regex,
                                        std::string* error);

    // Whether this build can run topology = "regex".
    static bool regex_supported();

    bool enabled() const { return mode_ != Mode::Off; }
    // The expected layout in words, for warnings: "wan: realm/network/gateway/node[/slot]",
    // "pattern sensors/{node}/climate", "regex ..."; empty when off.
    const std::string& layout() const { return layout_; }
    // Adds the origin's tags to `r` (tags already there win) and sets the
    // measurement if the record has none. False if the origin does not fit;
    // then `r` is left as it was.
    bool apply(std::string_view origin, Record& r) const;

private:
    struct Segment {
        enum class Kind { Literal, Name, Any, Rest };
        Kind kind = Kind::Literal;
        std::string text;  // the literal, or the tag name
    };

    bool apply_levels(std::string_view origin, Record& r) const;
    bool apply_pattern(std::string_view origin, Record& r) const;
    bool apply_regex(std::string_view origin, Record& r) const;

    Mode mode_ = Mode::Off;
    std::string layout_;
    std::vector<Segment> segments_;            // pattern
    std::shared_ptr<const re2::RE2> re_;       // regex
    std::vector<std::string> group_names_;     // regex: index i ↔ capture group i+1; empty: unnamed
};

// Kind of data named by a slot ("data.json" → "sensors").
std::string slot_kind(std::string_view slot);

}  // namespace sluice
