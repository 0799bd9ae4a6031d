// `sluice describe`: the pipeline graph of a configuration.

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "runtime/gateway.hpp"

namespace sluice {
namespace {

std::string option_text(const Options::Entry& e) {
    if (e.type == OptionType::Secret) {
        return "(secret)";
    }
    return std::visit(
        [&](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return v;
            } else if constexpr (std::is_same_v<T, bool>) {
                return v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                return fmt::format("{}", fmt::join(v, ","));
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                if (e.type == OptionType::Duration) {
                    return format_duration(std::chrono::nanoseconds(v));
                }
                if (e.type == OptionType::Size) {
                    return format_size(static_cast<std::uint64_t>(v));
                }
                return fmt::format("{}", v);
            } else {
                return fmt::format("{}", v);
            }
        },
        e.value);
}

// Only what the user set, so the graph stays readable.
std::vector<std::pair<std::string, std::string>> explicit_options(const Options& o) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, e] : o.entries()) {
        if (e.explicit_ && name != "decode") {
            out.emplace_back(name, option_text(e));
        }
    }
    return out;
}

std::string dot_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

std::string dot_label(const ComponentSpec& c) {
    std::string label = fmt::format("{}\\n({})", dot_escape(c.id), dot_escape(c.type));
    for (const auto& [k, v] : explicit_options(c.options)) {
        label += fmt::format("\\n{}={}", dot_escape(k), dot_escape(v));
    }
    return label;
}

std::string chain_names(const SourceSpec& s) {
    std::vector<std::string> names;
    for (const auto& d : s.decoders) {
        names.push_back(d.type);
    }
    return fmt::format("{}", fmt::join(names, ", "));
}

std::string describe_dot(const GatewayConfig& config) {
    std::string out = "digraph sluice {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
    for (std::size_t p = 0; p < config.pipelines.size(); ++p) {
        const auto& pl = config.pipelines[p];
        const std::string pre = fmt::format("p{}_", p);
        out += fmt::format("  subgraph cluster_{} {{\n    label=\"pipeline {}\";\n", p, dot_escape(pl.name));
        const std::string buffer = pre + "buffer";
        out += fmt::format("    {} [shape=cylinder, label=\"buffer\\nmax_bytes={}\\n{}\"];\n", buffer,
                           format_size(pl.buffer.size("max_bytes")), dot_escape(pl.buffer.str("overflow")));
        std::string upstream;
        for (std::size_t i = 0; i < pl.sources.size(); ++i) {
            const auto& s = pl.sources[i];
            out += fmt::format("    {}src{} [label=\"{}\", shape=box, style=rounded];\n", pre, i, dot_label(s));
            out += fmt::format("    {}dec{} [shape=diamond, label=\"decode\\n{}\"];\n", pre, i, chain_names(s));
            out += fmt::format("    {}src{} -> {}dec{};\n", pre, i, pre, i);
        }
        std::vector<std::string> tails;
        for (std::size_t i = 0; i < pl.sources.size(); ++i) {
            tails.push_back(fmt::format("{}dec{}", pre, i));
        }
        for (std::size_t i = 0; i < pl.stages.size(); ++i) {
            const std::string node = fmt::format("{}stage{}", pre, i);
            out += fmt::format("    {} [label=\"{}\", shape=ellipse];\n", node, dot_label(pl.stages[i]));
            for (const auto& t : tails) {
                out += fmt::format("    {} -> {};\n", t, node);
            }
            tails = {node};
        }
        for (const auto& t : tails) {
            out += fmt::format("    {} -> {};\n", t, buffer);
        }
        for (std::size_t i = 0; i < pl.sinks.size(); ++i) {
            out += fmt::format("    {}sink{} [label=\"{}\", shape=box];\n", pre, i, dot_label(pl.sinks[i]));
            out += fmt::format("    {} -> {}sink{} [label=\"cursor\"];\n", buffer, pre, i);
        }
        out += "  }\n";
    }
    out += "}\n";
    return out;
}

void json_component(std::string& out, const ComponentSpec& c, const SourceSpec* s) {
    out += "{\"id\":";
    append_json_string(out, c.id);
    out += ",\"type\":";
    append_json_string(out, c.type);
    out += ",\"position\":";
    append_json_string(out, c.pos.str());
    out += ",\"options\":{";
    bool comma = false;
    for (const auto& [k, v] : explicit_options(c.options)) {
        if (comma) {
            out += ',';
        }
        comma = true;
        append_json_string(out, k);
        out += ':';
        append_json_string(out, v);
    }
    out += '}';
    if (s != nullptr) {
        out += ",\"decode\":[";
        for (std::size_t i = 0; i < s->decoders.size(); ++i) {
            if (i) {
                out += ',';
            }
            append_json_string(out, s->decoders[i].type);
        }
        out += ']';
    }
    out += '}';
}

std::string describe_json(const GatewayConfig& config) {
    std::string out = "{\"origin\":";
    append_json_string(out, config.origin);
    out += ",\"pipelines\":[";
    for (std::size_t p = 0; p < config.pipelines.size(); ++p) {
        const auto& pl = config.pipelines[p];
        if (p) {
            out += ',';
        }
        out += "{\"name\":";
        append_json_string(out, pl.name);
        out += fmt::format(",\"buffer\":{{\"max_bytes\":{},\"overflow\":\"{}\",\"synchronous\":\"{}\"}}",
                           pl.buffer.size("max_bytes"), pl.buffer.str("overflow"), pl.buffer.str("synchronous"));
        auto list = [&](const char* key, const auto& items) {
            out += fmt::format(",\"{}\":[", key);
            for (std::size_t i = 0; i < items.size(); ++i) {
                if (i) {
                    out += ',';
                }
                using Item = typename std::decay_t<decltype(items)>::value_type;
                if constexpr (std::is_same_v<Item, SourceSpec>) {
                    json_component(out, items[i], &items[i]);
                } else {
                    json_component(out, items[i], nullptr);
                }
            }
            out += ']';
        };
        list("sources", pl.sources);
        list("stages", pl.stages);
        list("sinks", pl.sinks);
        out += '}';
    }
    out += "]}\n";
    return out;
}

std::string describe_text(const GatewayConfig& config) {
    std::string out = fmt::format("configuration: {}\n", config.origin);
    for (const auto& pl : config.pipelines) {
        out += fmt::format("\npipeline {}\n", pl.name);
        for (const auto& s : pl.sources) {
            out += fmt::format("  source  {} ({})", s.id, s.type);
            for (const auto& [k, v] : explicit_options(s.options)) {
                out += fmt::format(" {}={}", k, v);
            }
            out += fmt::format("\n    decode: {}\n", chain_names(s));
        }
        for (const auto& s : pl.stages) {
            out += fmt::format("  stage   {} ({})\n", s.id, s.type);
        }
        out += fmt::format("  buffer  max_bytes={} overflow={} synchronous={}\n", format_size(pl.buffer.size("max_bytes")),
                           pl.buffer.str("overflow"), pl.buffer.str("synchronous"));
        for (const auto& s : pl.sinks) {
            out += fmt::format("  sink    {} ({})", s.id, s.type);
            for (const auto& [k, v] : explicit_options(s.options)) {
                out += fmt::format(" {}={}", k, v);
            }
            out += '\n';
        }
    }
    return out;
}

}  // namespace

std::string describe_config(const GatewayConfig& config, std::string_view format) {
    if (format == "dot") {
        return describe_dot(config);
    }
    if (format == "json") {
        return describe_json(config);
    }
    return describe_text(config);
}

}  // namespace sluice
