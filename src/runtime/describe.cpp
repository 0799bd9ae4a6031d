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

// ------------------------------------------------ tables, windows, streams

// A component that links to a table or stream (OptionSpec::link).
struct StageRef {
    std::string pipeline;
    std::size_t pipeline_index = 0;
    std::string node;  // its node in the dot graph, without the pipeline prefix: "stage2", "src0", "sink1"
    std::string id;
};

struct TableNode {
    std::string name;
    bool declared = false;
    bool is_public = false;
    std::string csv;
    std::vector<StageRef> writers;  // components that write it (the table stage)
    std::vector<StageRef> readers;  // components that read it (enrich)
};

struct StreamNode {
    std::string name;
    std::vector<StageRef> writers;  // components that emit to it (a window's late_stream)
    std::vector<StageRef> readers;  // components that consume it (`stream` sources)
};

std::string string_option(const Options& o, std::string_view name) {
    const auto it = o.entries().find(name);
    if (it == o.entries().end()) {
        return {};
    }
    const auto* v = std::get_if<std::string>(&it->second.value);
    return v != nullptr ? *v : std::string();
}

StageRef ref_of(const GatewayConfig& config, const ComponentLink& link) {
    const char* prefix = link.component->kind == Kind::Source ? "src"
                         : link.component->kind == Kind::Sink ? "sink"
                                                              : "stage";
    return StageRef{config.pipelines[link.pipeline].name, link.pipeline, fmt::format("{}{}", prefix, link.index),
                    link.component->id};
}

// Every table: declared ones and those only named by a component's link.
std::vector<TableNode> table_nodes(const GatewayConfig& config) {
    std::vector<TableNode> out;
    auto node = [&](const std::string& name) -> TableNode& {
        for (auto& t : out) {
            if (t.name == name) {
                return t;
            }
        }
        out.push_back(TableNode{name});
        return out.back();
    };
    for (const auto& t : config.tables) {
        auto& n = node(t.name);
        n.declared = true;
        n.is_public = t.options.has("public") && t.options.boolean("public");
        n.csv = string_option(t.options, "csv");
    }
    for (const auto& link : component_links(config)) {
        if (links_table(link.use.link)) {
            auto& n = node(link.use.name);
            (link.use.link == OptionLink::WritesTable ? n.writers : n.readers).push_back(ref_of(config, link));
        }
    }
    return out;
}

// Named in-process streams: stages emit records to them (a window's
// late_stream), `stream` sources of other pipelines consume them.
std::vector<StreamNode> stream_nodes(const GatewayConfig& config) {
    std::vector<StreamNode> out;
    auto node = [&](const std::string& name) -> StreamNode& {
        for (auto& s : out) {
            if (s.name == name) {
                return s;
            }
        }
        out.push_back(StreamNode{name});
        return out.back();
    };
    for (const auto& link : component_links(config)) {
        if (links_stream(link.use.link)) {
            auto& n = node(link.use.name);
            (link.use.link == OptionLink::EmitsStream ? n.writers : n.readers).push_back(ref_of(config, link));
        }
    }
    return out;
}

// The component's own shape (Descriptor::describe): a window's panes, ...
DescribeShape shape_of(const ComponentSpec& c) {
    if (c.descriptor == nullptr || !c.descriptor->describe) {
        return {};
    }
    return c.descriptor->describe(c.options);
}

std::string refs_text(const std::vector<StageRef>& refs) {
    std::vector<std::string> parts;
    for (const auto& r : refs) {
        parts.push_back(fmt::format("{}/{}", r.pipeline, r.id));
    }
    return fmt::format("{}", fmt::join(parts, ", "));
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
            const auto& st = pl.stages[i];
            std::string label = dot_label(st);
            const auto shape = shape_of(st);
            if (!shape.summary.empty()) {
                label += "\\n" + dot_escape(shape.summary);
            }
            out += fmt::format("    {} [label=\"{}\", shape={}];\n", node, label,
                               shape.dot_shape.empty() ? std::string_view("ellipse") : shape.dot_shape);
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
    // Tables sit between the pipelines: `table` stages write them, enrich
    // reads them, and the HTTP API serves the public ones.
    const auto tables = table_nodes(config);
    bool any_public = false;
    for (std::size_t t = 0; t < tables.size(); ++t) {
        const auto& tn = tables[t];
        std::string label = fmt::format("table {}", dot_escape(tn.name));
        if (tn.is_public) {
            label += "\\npublic";
        }
        if (!tn.csv.empty()) {
            label += fmt::format("\\ncsv={}", dot_escape(tn.csv));
        }
        if (!tn.declared) {
            label += "\\n(not declared)";
        }
        out += fmt::format("  table{} [shape=folder, label=\"{}\"];\n", t, label);
        for (const auto& w : tn.writers) {
            out += fmt::format("  p{}_{} -> table{} [style=dashed, label=\"latest per key\"];\n", w.pipeline_index,
                               w.node, t);
        }
        for (const auto& r : tn.readers) {
            out += fmt::format("  table{} -> p{}_{} [style=dashed, label=\"lookup\"];\n", t, r.pipeline_index,
                               r.node);
        }
        any_public = any_public || tn.is_public;
    }
    if (any_public) {
        out += "  http_api [shape=component, label=\"HTTP API\\n/api/table\"];\n";
        for (std::size_t t = 0; t < tables.size(); ++t) {
            if (tables[t].is_public) {
                out += fmt::format("  table{} -> http_api [dir=both, style=dotted];\n", t);
            }
        }
    }
    for (const auto& sn : stream_nodes(config)) {
        for (const auto& w : sn.writers) {
            for (const auto& r : sn.readers) {
                out += fmt::format("  p{}_{} -> p{}_{} [style=dashed, label=\"stream:{}\"];\n", w.pipeline_index,
                                   w.node, r.pipeline_index, r.node, dot_escape(sn.name));
            }
        }
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
    if (const auto shape = shape_of(c); !shape.summary.empty()) {
        out += fmt::format(",\"{}\":", shape.json_key.empty() ? std::string_view("summary") : shape.json_key);
        append_json_string(out, shape.summary);
    }
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
    out += "]";
    auto refs = [&](const std::vector<StageRef>& rs) {
        out += '[';
        for (std::size_t i = 0; i < rs.size(); ++i) {
            if (i) {
                out += ',';
            }
            out += "{\"pipeline\":";
            append_json_string(out, rs[i].pipeline);
            out += ",\"id\":";
            append_json_string(out, rs[i].id);
            out += '}';
        }
        out += ']';
    };
    out += ",\"tables\":[";
    const auto tables = table_nodes(config);
    for (std::size_t t = 0; t < tables.size(); ++t) {
        const auto& tn = tables[t];
        out += t ? ",{\"name\":" : "{\"name\":";
        append_json_string(out, tn.name);
        out += fmt::format(",\"declared\":{},\"public\":{},\"csv\":", tn.declared, tn.is_public);
        append_json_string(out, tn.csv);
        out += ",\"writers\":";
        refs(tn.writers);
        out += ",\"readers\":";
        refs(tn.readers);
        out += '}';
    }
    out += "],\"streams\":[";
    const auto streams = stream_nodes(config);
    for (std::size_t i = 0; i < streams.size(); ++i) {
        out += i ? ",{\"name\":" : "{\"name\":";
        append_json_string(out, streams[i].name);
        out += ",\"writers\":";
        refs(streams[i].writers);
        out += ",\"readers\":";
        refs(streams[i].readers);
        out += '}';
    }
    out += "]}\n";
    return out;
}

std::string describe_text(const GatewayConfig& config) {
    std::string out = fmt::format("configuration: {}\n", config.origin);
    const auto tables = table_nodes(config);
    if (!tables.empty()) {
        out += "\ntables\n";
        for (const auto& tn : tables) {
            out += fmt::format("  table   {}{}{}{}\n", tn.name, tn.is_public ? " (public: /api/table/" + tn.name + "/)" : "",
                               tn.csv.empty() ? "" : " csv=" + tn.csv, tn.declared ? "" : " (not declared)");
            if (!tn.writers.empty()) {
                out += fmt::format("    written by {}\n", refs_text(tn.writers));
            }
            if (!tn.readers.empty()) {
                out += fmt::format("    read by {}\n", refs_text(tn.readers));
            }
        }
    }
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
            out += fmt::format("  stage   {} ({})", s.id, s.type);
            if (const auto shape = shape_of(s); !shape.summary.empty()) {
                out += " " + shape.summary;
            }
            for (const auto& [k, v] : explicit_options(s.options)) {
                out += fmt::format(" {}={}", k, v);
            }
            out += '\n';
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
    const auto streams = stream_nodes(config);
    if (!streams.empty()) {
        out += "\nstreams\n";
        for (const auto& sn : streams) {
            out += fmt::format("  stream  {}: from {} to {}\n", sn.name,
                               sn.writers.empty() ? "(nothing)" : refs_text(sn.writers),
                               sn.readers.empty() ? "(nobody: records are dropped)" : refs_text(sn.readers));
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
