#include "sources/mqtt/mqtt_config.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace sluice::mqtt {

namespace {

// Splits on ',' and drops empty pieces (a trailing comma is harmless).
std::vector<std::string> split_commas(std::string_view s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto comma = s.find(',', start);
        if (comma == std::string_view::npos) {
            comma = s.size();
        }
        if (comma > start) {
            out.emplace_back(s.substr(start, comma - start));
        }
        start = comma + 1;
    }
    return out;
}

// Topic filters the broker would refuse; caught here so the mistake shows at
// validate time with the option's position rather than as a runtime error.
std::optional<std::string> check_topic_filter(std::string_view t) {
    if (t.empty()) {
        return "an empty topic filter";
    }
    for (std::size_t i = 0; i < t.size(); ++i) {
        const bool level_start = i == 0 || t[i - 1] == '/';
        const bool level_end = i + 1 == t.size() || t[i + 1] == '/';
        if (t[i] == '#' && (!level_start || i + 1 != t.size())) {
            return fmt::format("topic filter '{}': '#' must be a whole level at the end", t);
        }
        if (t[i] == '+' && (!level_start || !level_end)) {
            return fmt::format("topic filter '{}': '+' must be a whole level", t);
        }
        if (t[i] == '\0') {
            return fmt::format("topic filter '{}' contains a NUL character", t);
        }
    }
    return std::nullopt;
}

template <class D>
D as(std::chrono::nanoseconds ns) {
    return std::chrono::duration_cast<D>(ns);
}

}  // namespace

Settings settings_from(const Options& o) {
    Settings s;
    static_cast<Connection&>(s) = connection_from(o, "mqtt source");
    s.topics = o.list("topics");
    for (const auto& t : s.topics) {
        if (auto bad = check_topic_filter(t)) {
            throw ConfigError(fmt::format("option 'topics': {}", *bad));
        }
    }
    s.qos = static_cast<int>(o.integer("qos"));
    s.batch_size = static_cast<std::size_t>(o.integer("batch_size"));
    s.flush_interval = as<std::chrono::milliseconds>(o.duration("flush_interval"));
    s.max_unsaved_messages = static_cast<std::size_t>(o.integer("max_unsaved_messages"));
    s.connections = static_cast<int>(o.integer("connections"));
    s.share_group = o.str_or("share_group", "");
    if (s.share_group.find_first_of("/+#") != std::string::npos) {
        throw ConfigError("option 'share_group': a share name must not contain '/', '+' or '#'");
    }
    if (!s.share_group.empty() && s.connections < 2) {
        throw ConfigError("option 'share_group' is set but connections is 1; set connections to 2 or more to "
                          "subscribe through a shared subscription");
    }
    if (s.connections > 1) {
        for (const auto& t : s.topics) {
            if (t.starts_with("$share/")) {
                throw ConfigError(fmt::format("option 'topics': '{}' already names a shared subscription; with "
                                              "connections = {} sluice makes the shared subscriptions itself "
                                              "(remove the $share/<group>/ prefix)",
                                              t, s.connections));
            }
        }
        if (static_cast<std::size_t>(s.connections) > s.max_unsaved_messages) {
            throw ConfigError(fmt::format("max_unsaved_messages ({}) must be at least connections ({}): the "
                                          "connections share that window",
                                          s.max_unsaved_messages, s.connections));
        }
    }
    return s;
}

std::string share_group_name(const Settings& s, std::string_view client_id) {
    if (!s.share_group.empty()) {
        return s.share_group;
    }
    std::string g(client_id);
    for (char& c : g) {
        if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) {
            c = '_';
        }
    }
    return g.empty() ? "sluice" : g;
}

std::string shared_filter(std::string_view group, std::string_view filter) {
    return fmt::format("$share/{}/{}", group, filter);
}

void from_url(const Url& url, RawTable& out) {
    connection_from_url(url, out);
    // The path (after its first '/') is one topic filter; `topics=` adds more.
    // Built as an array so a topic is never split on something inside it.
    RawArray topics;
    if (url.path.size() > 1) {
        RawValue v;
        v.v = url.path.substr(1);
        topics.push_back(std::move(v));
    }
    for (const auto& [key, value] : url.query) {
        if (key == "topics" || key == "topic") {
            for (auto& t : split_commas(value)) {
                RawValue v;
                v.v = std::move(t);
                topics.push_back(std::move(v));
            }
        } else {
            out.push_back(text_entry(key, value));
        }
    }
    if (!topics.empty()) {
        RawEntry e;
        e.key = "topics";
        e.value.v = std::move(topics);
        out.push_back(std::move(e));
    }
}

}  // namespace sluice::mqtt
