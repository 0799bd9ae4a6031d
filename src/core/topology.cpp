#include "core/topology.hpp"

#include <array>

#include <fmt/format.h>

#if SLUICE_WITH_RE2
#include <re2/re2.h>
#endif

namespace sluice {
namespace {

// A pattern names at most this many segments; a longer one is a config error
// (it keeps the per-frame captures on the stack).
constexpr std::size_t kMaxPatternSegments = 64;
// Capturing groups of a topology_regex, likewise.
constexpr std::size_t kMaxRegexGroups = 32;

void add_tag(Record& r, std::string_view name, std::string_view value) {
    if (value.empty() || r.tag(name) != nullptr) {
        return;
    }
    r.tags.push_back({std::string(name), std::string(value)});
}

// Walks the '/'-separated levels of an origin without allocating.
class Levels {
public:
    explicit Levels(std::string_view s) : rest_(s) {}
    bool done() const { return done_; }
    std::string_view next() {
        const auto slash = rest_.find('/');
        if (slash == std::string_view::npos) {
            done_ = true;
            return rest_;
        }
        const auto level = rest_.substr(0, slash);
        rest_.remove_prefix(slash + 1);
        return level;
    }

private:
    std::string_view rest_;
    bool done_ = false;
};

#if SLUICE_WITH_RE2
// RE2 (2022) knows (?P<name>…) only: accept (?<name>…) too, as PCRE and
// Python do, by rewriting it outside escapes and character classes.
std::string python_named_groups(std::string_view pattern) {
    std::string out;
    out.reserve(pattern.size() + 8);
    bool in_class = false;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        out += c;
        if (c == '\\') {
            if (i + 1 < pattern.size()) {
                out += pattern[++i];
            }
        } else if (in_class) {
            in_class = c != ']';
        } else if (c == '[') {
            in_class = true;
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') {
                out += pattern[++i];  // "[]…]": the first ] is a member
            }
        } else if (c == '(' && pattern.substr(i, 3) == "(?<" && i + 3 < pattern.size() && pattern[i + 3] != '=' &&
                   pattern[i + 3] != '!') {
            out += "?P<";
            i += 2;
        }
    }
    return out;
}
#endif

}  // namespace

std::string slot_kind(std::string_view slot) {
    const auto dot = slot.rfind('.');
    const std::string_view base = dot == std::string_view::npos ? slot : slot.substr(0, dot);
    if (base == "data" || base == "json" || slot == "data.json" || base == "sensors") {
        return "sensors";
    }
    if (base == "event" || base == "events") {
        return "events";
    }
    return std::string(base);
}

bool Topology::regex_supported() { return SLUICE_WITH_RE2 != 0; }

std::optional<Topology> Topology::make(std::string_view mode, std::string_view pattern, std::string_view regex,
                                       std::string* error) {
    Topology t;
    if (mode == "off" || mode.empty()) {
        if (!pattern.empty() || !regex.empty()) {
            *error = fmt::format("topology_{} is set but topology is \"off\": set topology = \"{}\"",
                                 pattern.empty() ? "regex" : "pattern", pattern.empty() ? "regex" : "pattern");
            return std::nullopt;
        }
        return t;
    }
    if (mode == "wan" || mode == "lan") {
        t.mode_ = mode == "wan" ? Mode::Wan : Mode::Lan;
        t.layout_ = mode == "wan" ? "wan: realm/network/gateway/node[/slot]" : "lan: realm/node[/slot]";
        return t;
    }
    if (mode == "pattern") {
        if (pattern.empty()) {
            *error = "topology = \"pattern\" needs topology_pattern, e.g. \"{realm}/{network}/+/{node}/#\"";
            return std::nullopt;
        }
        Levels levels(pattern);
        while (!levels.done()) {
            const auto level = levels.next();
            Segment seg;
            if (!t.segments_.empty() && t.segments_.back().kind == Segment::Kind::Rest) {
                *error = "topology_pattern: # must be the last segment";
                return std::nullopt;
            }
            if (level == "+") {
                seg.kind = Segment::Kind::Any;
            } else if (level == "#") {
                seg.kind = Segment::Kind::Rest;
            } else if (level.size() >= 2 && level.front() == '{' && level.back() == '}') {
                seg.kind = Segment::Kind::Name;
                seg.text = std::string(level.substr(1, level.size() - 2));
                if (seg.text.empty() || seg.text.find_first_of("{}+#") != std::string::npos) {
                    *error = fmt::format("topology_pattern: '{}' is not a tag name", level);
                    return std::nullopt;
                }
            } else if (level.find_first_of("{}+#") != std::string_view::npos) {
                *error = fmt::format(
                    "topology_pattern: segment '{}' mixes text with {{name}}, + or #; a segment is a literal, "
                    "{{name}}, + or # (use topology = \"regex\" to split inside a segment)",
                    level);
                return std::nullopt;
            } else {
                seg.text = std::string(level);
            }
            t.segments_.push_back(std::move(seg));
        }
        if (t.segments_.size() > kMaxPatternSegments) {
            *error = fmt::format("topology_pattern: more than {} segments", kMaxPatternSegments);
            return std::nullopt;
        }
        t.mode_ = Mode::Pattern;
        t.layout_ = fmt::format("pattern {}", pattern);
        return t;
    }
    if (mode != "regex") {
        *error = "topology must be off, wan, lan, pattern or regex";
        return std::nullopt;
    }
    if (regex.empty()) {
        *error = "topology = \"regex\" needs topology_regex";
        return std::nullopt;
    }
#if SLUICE_WITH_RE2
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_max_mem(1 << 20);  // bounds the compiled program and the DFA cache
    auto re = std::make_shared<const RE2>(python_named_groups(regex), opts);
    if (!re->ok()) {
        *error = fmt::format("topology_regex does not compile: {}", re->error());
        return std::nullopt;
    }
    if (static_cast<std::size_t>(re->NumberOfCapturingGroups()) > kMaxRegexGroups) {
        *error = fmt::format("topology_regex has more than {} groups (use (?:...) for those that name nothing)",
                             kMaxRegexGroups);
        return std::nullopt;
    }
    t.group_names_.resize(static_cast<std::size_t>(re->NumberOfCapturingGroups()));
    for (const auto& [name, index] : re->NamedCapturingGroups()) {
        t.group_names_[static_cast<std::size_t>(index - 1)] = name;
    }
    t.re_ = std::move(re);
    t.mode_ = Mode::Regex;
    t.layout_ = fmt::format("regex {}", regex);
    return t;
#else
    *error = "topology = \"regex\" is not in this build (SLUICE_WITH_RE2=OFF): use topology = \"pattern\"";
    return std::nullopt;
#endif
}

bool Topology::apply(std::string_view origin, Record& r) const {
    switch (mode_) {
        case Mode::Off:
            return true;
        case Mode::Wan:
        case Mode::Lan:
            return apply_levels(origin, r);
        case Mode::Pattern:
            return apply_pattern(origin, r);
        case Mode::Regex:
            return apply_regex(origin, r);
    }
    return false;
}

bool Topology::apply_levels(std::string_view origin, Record& r) const {
    const std::size_t need = mode_ == Mode::Wan ? 4 : 2;
    std::array<std::string_view, 5> parts;
    std::size_t n = 0;
    for (Levels levels(origin); !levels.done();) {
        if (n == need + 1) {
            return false;
        }
        parts[n++] = levels.next();
    }
    if (n < need) {
        return false;
    }
    if (mode_ == Mode::Wan) {
        add_tag(r, "realm", parts[0]);
        add_tag(r, "network", parts[1]);
        add_tag(r, "gateway", parts[2]);
        add_tag(r, "node", parts[3]);
    } else {
        add_tag(r, "realm", parts[0]);
        add_tag(r, "node", parts[1]);
    }
    if (n == need + 1 && r.measurement.empty()) {
        r.measurement = slot_kind(parts[need]);
    }
    return true;
}

bool Topology::apply_pattern(std::string_view origin, Record& r) const {
    std::array<std::string_view, kMaxPatternSegments> captured;
    Levels levels(origin);
    std::size_t i = 0;
    for (; i < segments_.size(); ++i) {
        const auto& seg = segments_[i];
        if (seg.kind == Segment::Kind::Rest) {
            break;  // MQTT's #: any rest, also none
        }
        if (levels.done()) {
            return false;
        }
        const auto level = levels.next();
        if (seg.kind == Segment::Kind::Literal && level != seg.text) {
            return false;
        }
        captured[i] = level;
    }
    if (i == segments_.size() && !levels.done()) {
        return false;  // more levels than the pattern has, and no #
    }
    for (std::size_t k = 0; k < i; ++k) {
        const auto& seg = segments_[k];
        if (seg.kind != Segment::Kind::Name) {
            continue;
        }
        if (seg.text == "measurement") {
            if (r.measurement.empty()) {
                r.measurement = std::string(captured[k]);
            }
        } else {
            add_tag(r, seg.text, captured[k]);
        }
    }
    return true;
}

bool Topology::apply_regex(std::string_view origin, Record& r) const {
#if SLUICE_WITH_RE2
    std::array<re2::StringPiece, kMaxRegexGroups + 1> groups;  // the whole match, then each group
    const std::size_t n = group_names_.size() + 1;
    if (!re_->Match(re2::StringPiece(origin.data(), origin.size()), 0, origin.size(), RE2::ANCHOR_BOTH,
                    groups.data(), static_cast<int>(n))) {
        return false;
    }
    for (std::size_t i = 1; i < n; ++i) {
        const auto& name = group_names_[i - 1];
        if (name.empty() || groups[i].data() == nullptr) {
            continue;
        }
        const std::string_view value(groups[i].data(), groups[i].size());
        if (name == "measurement") {
            if (r.measurement.empty()) {
                r.measurement = std::string(value);
            }
        } else {
            add_tag(r, name, value);
        }
    }
    return true;
#else
    (void)origin;
    (void)r;
    return false;
#endif
}

}  // namespace sluice
