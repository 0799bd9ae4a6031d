#include "core/topology.hpp"

namespace sluice {
namespace {

void add_tag(Record& r, std::string_view name, std::string_view value) {
    if (value.empty() || r.tag(name) != nullptr) {
        return;
    }
    r.tags.push_back({std::string(name), std::string(value)});
}

std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= s.size()) {
        const auto slash = s.find('/', start);
        if (slash == std::string_view::npos) {
            parts.push_back(s.substr(start));
            break;
        }
        parts.push_back(s.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

// std::regex has no named groups: rewrite (?P<name>…) and (?<name>…) to
// plain groups and remember which capture index carries which name.
bool strip_named_groups(std::string_view pattern, std::string& out, std::vector<std::string>& names,
                        std::string* error) {
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\') {
            out += c;
            if (i + 1 < pattern.size()) {
                out += pattern[++i];
            }
            continue;
        }
        if (c == '[') {  // character classes hold no groups
            const auto end = pattern.find(']', i + 2);
            if (end == std::string_view::npos) {
                out.append(pattern.substr(i));
                return true;
            }
            out.append(pattern.substr(i, end - i + 1));
            i = end;
            continue;
        }
        if (c != '(') {
            out += c;
            continue;
        }
        const auto rest = pattern.substr(i);
        std::size_t name_at = 0;
        if (rest.rfind("(?P<", 0) == 0) {
            name_at = 4;
        } else if (rest.rfind("(?<", 0) == 0 && rest.size() > 3 && rest[3] != '=' && rest[3] != '!') {
            name_at = 3;
        }
        if (name_at != 0) {
            const auto close = rest.find('>', name_at);
            if (close == std::string_view::npos) {
                *error = "unterminated group name in topology_regex";
                return false;
            }
            names.emplace_back(rest.substr(name_at, close - name_at));
            out += '(';
            i += close;
        } else if (rest.rfind("(?", 0) == 0) {
            out += c;  // non-capturing or lookahead
        } else {
            names.emplace_back();
            out += c;
        }
    }
    return true;
}

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

std::optional<Topology> Topology::make(std::string_view mode, std::string_view pattern, std::string* error) {
    Topology t;
    if (mode == "off" || mode.empty()) {
        return t;
    }
    if (mode == "wan") {
        t.mode_ = Mode::Wan;
        return t;
    }
    if (mode == "lan") {
        t.mode_ = Mode::Lan;
        return t;
    }
    if (mode != "regex") {
        *error = "topology must be off, wan, lan or regex";
        return std::nullopt;
    }
    if (pattern.empty()) {
        *error = "topology = \"regex\" needs topology_regex";
        return std::nullopt;
    }
    std::string plain;
    if (!strip_named_groups(pattern, plain, t.group_names_, error)) {
        return std::nullopt;
    }
    try {
        t.re_ = std::regex(plain, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
        *error = std::string("topology_regex does not compile: ") + e.what();
        return std::nullopt;
    }
    t.mode_ = Mode::Regex;
    return t;
}

bool Topology::apply(std::string_view origin, Record& r) const {
    switch (mode_) {
        case Mode::Off:
            return true;
        case Mode::Wan:
        case Mode::Lan: {
            const auto parts = split(origin);
            const std::size_t need = mode_ == Mode::Wan ? 4 : 2;
            if (parts.size() < need || parts.size() > need + 1) {
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
            if (parts.size() == need + 1 && r.measurement.empty()) {
                r.measurement = slot_kind(parts[need]);
            }
            return true;
        }
        case Mode::Regex: {
            std::match_results<std::string_view::const_iterator> m;
            if (!std::regex_match(origin.begin(), origin.end(), m, re_)) {
                return false;
            }
            for (std::size_t i = 0; i < group_names_.size() && i + 1 < m.size(); ++i) {
                const auto& name = group_names_[i];
                if (name.empty() || !m[i + 1].matched) {
                    continue;
                }
                const std::string value = m[i + 1].str();
                if (name == "measurement") {
                    if (r.measurement.empty()) {
                        r.measurement = value;
                    }
                } else {
                    add_tag(r, name, value);
                }
            }
            return true;
        }
    }
    return false;
}

}  // namespace sluice
