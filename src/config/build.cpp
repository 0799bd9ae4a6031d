// From RawTables (whichever front end made them) to checked component specs.

#include <algorithm>
#include <filesystem>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "config/config_build.hpp"
#include "core/topology.hpp"

namespace sluice::config_detail {

namespace {

bool has_position(const SourcePos& p) { return p.line != 0 || !p.file.empty(); }

std::span<const OptionSpec> common_specs(Kind kind) {
    switch (kind) {
        case Kind::Source:
            return source_common_option_specs();
        case Kind::Sink:
            return sink_common_option_specs();
        case Kind::Decoder:
        case Kind::Stage:
            break;
    }
    return {};
}

// The component's own options first, so a component may redefine a common
// option (with its own default or doc) and resolve_options takes the first.
std::vector<OptionSpec> combined_specs(const Descriptor& d) {
    std::vector<OptionSpec> specs = d.options;
    for (const auto& c : common_specs(d.kind)) {
        const bool own = std::any_of(specs.begin(), specs.end(), [&](const OptionSpec& s) { return s.name == c.name; });
        if (!own) {
            specs.push_back(c);
        }
    }
    return specs;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += (i > 0 ? ", " : "");
        out += items[i];
    }
    return out;
}

// Reads the optional `id` key of a component table.
std::string take_id(const RawTable& table, Kind kind, Diagnostics& diag) {
    const RawEntry* e = find_entry(table, "id");
    if (e == nullptr) {
        return {};
    }
    const std::string* s = e->value.as_string();
    if (s == nullptr) {
        diag.error(e->value.pos, fmt::format("the id of a {} must be a string, not {}", kind_name(kind),
                                             e->value.describe()));
        return {};
    }
    if (!valid_name(*s)) {
        diag.error(e->value.pos, fmt::format("invalid id '{}': use 1 to 64 letters, digits, '_', '-' or '.'", *s));
        return {};
    }
    return *s;
}

// One decoder of a chain before its options are resolved.
struct PendingDecoder {
    const Descriptor* descriptor = nullptr;
    std::string id;
    RawTable table;
    SourcePos pos;
};

SourcePos shifted(const SourcePos& p, std::size_t chars) {
    SourcePos out = p;
    if (p.column > 0) {
        out.column += static_cast<int>(chars);
    }
    return out;
}

}  // namespace

std::string component_context(Kind kind, std::string_view type) {
    return fmt::format("{} '{}'", kind_name(kind), type);
}

const Descriptor* find_component(const Registry& registry, Kind kind, std::string_view type, const SourcePos& pos,
                                 Diagnostics& diag) {
    if (const Descriptor* d = registry.find(kind, type)) {
        return d;
    }
    const auto names = registry.names(kind);
    const std::string what = kind == Kind::Decoder ? "decoder" : fmt::format("{} type", kind_name(kind));
    std::string msg = fmt::format("unknown {} '{}'", what, type);
    if (auto near = did_you_mean(type, std::span<const std::string>(names))) {
        msg += fmt::format(" (did you mean '{}'?)", *near);
    } else if (!names.empty()) {
        msg += fmt::format(" (available: {})", join(names));
    } else {
        msg += fmt::format(" (this build has no {}s)", kind_name(kind));
    }
    diag.error(pos, std::move(msg));
    return nullptr;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 64) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.';
    });
}

int column_of(std::string_view text, std::size_t offset) {
    int col = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++col;
        }
    }
    return col;
}

ComponentSpec build_component(const Descriptor& d, const RawTable& table, const SourcePos& pos, Diagnostics& diag) {
    ComponentSpec spec;
    spec.type = std::string(d.name);
    spec.kind = d.kind;
    spec.pos = pos;
    spec.descriptor = &d;
    spec.id = take_id(table, d.kind, diag);
    const auto specs = combined_specs(d);
    spec.options = resolve_options(specs, table, component_context(d.kind, d.name), pos, diag, kComponentPassthrough);
    return spec;
}

SourceSpec build_source(const Descriptor& d, const RawTable& table, const SourcePos& pos, const Registry& registry,
                        Diagnostics& diag, const std::vector<DecoderOption>& decoder_options) {
    std::vector<PendingDecoder> chain;
    const RawEntry* decode = find_entry(table, "decode");

    // Decoder names may come from the environment like any other string.
    auto expand_name = [&](const std::string& text, const SourcePos& at) -> std::optional<std::string> {
        if (text.find("${") == std::string::npos) {
            return text;
        }
        std::string error;
        auto out = expand_env(text, &error);
        if (!out) {
            diag.error(at, fmt::format("option 'decode' for {}: {}", component_context(d.kind, d.name), error));
        }
        return out;
    };
    auto add_by_name = [&](std::string_view name, const SourcePos& at, bool report_unknown) {
        const Descriptor* dd = report_unknown ? find_component(registry, Kind::Decoder, name, at, diag)
                                              : registry.find(Kind::Decoder, name);
        if (dd != nullptr) {
            chain.push_back({dd, {}, {}, at});
        }
    };

    // The chain as written, with the entry that replaces "decode" for
    // resolve_options: a plain list of the decoder names.
    RawTable source_table = table;
    const std::size_t errors_before = diag.size();
    if (decode != nullptr) {
        RawValue names;
        names.pos = decode->value.pos;
        RawArray name_list;
        if (const auto* arr = decode->value.as_array()) {
            for (const auto& el : *arr) {
                const SourcePos& at = has_position(el.pos) ? el.pos : decode->value.pos;
                if (const std::string* s = el.as_string()) {
                    if (auto name = expand_name(*s, at)) {
                        add_by_name(*name, at, true);
                    }
                } else if (const RawTable* t = el.as_table()) {
                    const RawEntry* type = find_entry(*t, "type");
                    if (type == nullptr) {
                        diag.error(at, "a decoder table needs a 'type', e.g. { type = \"csv\", ... }");
                        continue;
                    }
                    const std::string* tname = type->value.as_string();
                    if (tname == nullptr) {
                        diag.error(type->value.pos,
                                   fmt::format("a decoder's type must be a string, not {}", type->value.describe()));
                        continue;
                    }
                    if (const Descriptor* dd = find_component(registry, Kind::Decoder, *tname, type->value.pos, diag)) {
                        chain.push_back({dd, take_id(*t, Kind::Decoder, diag), *t, at});
                    }
                } else {
                    diag.error(at, fmt::format("decode entries must be decoder names or tables, not {}",
                                               el.describe()));
                }
            }
        } else if (const std::string* written = decode->value.as_string()) {
            // "json, csv": each name keeps its own column for messages (TOML
            // strings start one column early, at the quote).
            const std::size_t quote = decode->value.from_text ? 0 : 1;
            const auto expanded = expand_name(*written, decode->value.pos);
            static const std::string kNothing;
            const std::string* s = expanded ? &*expanded : &kNothing;
            std::size_t start = 0;
            while (start <= s->size()) {
                auto comma = s->find(',', start);
                if (comma == std::string::npos) {
                    comma = s->size();
                }
                std::size_t b = start;
                std::size_t e = comma;
                while (b < e && (*s)[b] == ' ') {
                    ++b;
                }
                while (e > b && (*s)[e - 1] == ' ') {
                    --e;
                }
                if (e > b) {
                    add_by_name(std::string_view(*s).substr(b, e - b),
                                shifted(decode->value.pos, quote + static_cast<std::size_t>(column_of(*s, b) - 1)),
                                true);
                }
                start = comma + 1;
            }
        }
        // Any other type is left for resolve_options to report.
        const bool usable = decode->value.as_array() != nullptr || decode->value.as_string() != nullptr;
        if (usable && chain.empty() && diag.size() == errors_before) {
            diag.error(decode->value.pos, fmt::format("the decode chain of {} is empty; name at least one decoder",
                                                      component_context(d.kind, d.name)));
        }
        for (const auto& p : chain) {
            RawValue n;
            n.v = std::string(p.descriptor->name);
            n.pos = p.pos;
            name_list.push_back(std::move(n));
        }
        names.v = std::move(name_list);
        for (auto& e : source_table) {
            if (usable && e.key == "decode") {
                e.value = std::move(names);
                break;
            }
        }
    }

    SourceSpec spec;
    static_cast<ComponentSpec&>(spec) = build_component(d, source_table, pos, diag);

    // The topology is compiled here too, so `validate` refuses what `run` would.
    std::string topology_error;
    const SourceCommon common = source_common_options(spec.options);
    if (!Topology::make(common.topology, common.topology_pattern, common.topology_regex, &topology_error)) {
        SourcePos at = pos;
        for (const char* key : {"topology_regex", "topology_pattern", "topology"}) {
            if (spec.options.is_explicit(key)) {
                at = spec.options.pos(key);
                break;
            }
        }
        diag.error(at, fmt::format("{}: {}", component_context(d.kind, d.name), topology_error));
    }
    if (common.required && !d.watched) {
        diag.error(spec.options.pos("required"),
                   fmt::format("{}: 'required' is for sources that connect to something that can be down "
                               "(this one cannot be down)",
                               component_context(d.kind, d.name)));
    }

    if (decode == nullptr) {
        // The default chain leaves out decoders this build does not have.
        const auto it = spec.options.entries().find("decode");
        if (it != spec.options.entries().end()) {
            if (const auto* names = std::get_if<std::vector<std::string>>(&it->second.value)) {
                for (const auto& n : *names) {
                    add_by_name(n, pos, false);
                }
            }
        }
        if (chain.empty()) {
            diag.error(pos, fmt::format("{} has no decoders: none of the default ones is in this build; set 'decode'",
                                        component_context(d.kind, d.name)));
        }
        std::vector<std::string> present;
        for (const auto& p : chain) {
            present.emplace_back(p.descriptor->name);
        }
        spec.options.set("decode", Options::Entry{OptionType::List, std::move(present), pos, false});
    } else {
        if (decode->value.as_array() != nullptr) {
            spec.options.set_raw("decode", decode->value);
        }
    }

    for (const auto& opt : decoder_options) {
        bool used = false;
        for (auto& p : chain) {
            if (p.descriptor->name == opt.decoder) {
                p.table.push_back(opt.entry);
                used = true;
            }
        }
        if (!used) {
            std::vector<std::string> names;
            for (const auto& p : chain) {
                names.emplace_back(p.descriptor->name);
            }
            diag.error(opt.pos, fmt::format("option '{}.{}' is for decoder '{}', which is not in the decode chain ({})",
                                            opt.decoder, opt.entry.key, opt.decoder, join(names)));
        }
    }

    // Decoder ids are local to the chain: the type, or "<type>-<n>" when a
    // decoder appears more than once.
    std::vector<std::string> taken;
    for (const auto& p : chain) {
        if (!p.id.empty()) {
            taken.push_back(p.id);
        }
    }
    for (auto& p : chain) {
        ComponentSpec dec;
        dec.type = std::string(p.descriptor->name);
        dec.kind = Kind::Decoder;
        dec.pos = p.pos;
        dec.descriptor = p.descriptor;
        dec.options = resolve_options(p.descriptor->options, p.table, component_context(Kind::Decoder, dec.type),
                                      p.pos, diag, kComponentPassthrough);
        if (!p.id.empty()) {
            dec.id = p.id;
        } else {
            const auto same = std::count_if(chain.begin(), chain.end(),
                                            [&](const PendingDecoder& o) { return o.descriptor == p.descriptor; });
            std::string id = dec.type;
            for (int n = 1; same > 1 || std::find(taken.begin(), taken.end(), id) != taken.end(); ++n) {
                id = fmt::format("{}-{}", dec.type, n);
                if (std::find(taken.begin(), taken.end(), id) == taken.end()) {
                    break;
                }
            }
            dec.id = id;
            taken.push_back(id);
        }
        spec.decoders.push_back(std::move(dec));
    }
    return spec;
}

void finish_pipeline(PipelineSpec& p, Diagnostics& diag, bool check_shape) {
    if (check_shape && p.sources.empty()) {
        diag.error(p.pos, fmt::format("pipeline '{}' has no sources", p.name));
    }
    if (check_shape && p.sinks.empty()) {
        diag.error(p.pos, fmt::format("pipeline '{}' has no sinks", p.name));
    }

    std::vector<ComponentSpec*> all;
    for (auto& s : p.sources) {
        all.push_back(&s);
    }
    for (auto& s : p.stages) {
        all.push_back(&s);
    }
    for (auto& s : p.sinks) {
        all.push_back(&s);
    }

    // Maps, not scans: a generated config may hold hundreds of thousands of
    // components, and validating it must stay linear.
    std::unordered_map<std::string, const ComponentSpec*> owners;  // explicit ids, for duplicate messages
    std::unordered_set<std::string> taken;
    for (auto* c : all) {
        if (c->id.empty()) {
            continue;
        }
        auto [first, fresh] = owners.emplace(c->id, c);
        if (!fresh) {
            diag.error(c->pos, fmt::format("duplicate id '{}' in pipeline '{}' (first used at {})", c->id, p.name,
                                           first->second->pos.str()));
            continue;
        }
        taken.insert(c->id);
    }

    // Automatic ids: the type when it is the only one of its kind without
    // an id, else "<type>-<n>"; a clash with another kind (a file source and
    // a file sink) gets the kind as prefix.
    std::vector<ComponentSpec*> automatic;
    for (auto* c : all) {
        if (c->id.empty()) {
            automatic.push_back(c);
        }
    }
    auto kind_type = [](const ComponentSpec* c) { return fmt::format("{}/{}", kind_name(c->kind), c->type); };
    std::unordered_map<std::string, std::size_t> of_kind_type;  // how many automatic ids each kind/type needs
    for (const auto* c : automatic) {
        ++of_kind_type[kind_type(c)];
    }
    std::unordered_map<std::string, std::size_t> numbered;  // how many of each kind/type are named so far
    for (auto* c : automatic) {
        const auto key = kind_type(c);
        std::string base = c->type;
        if (of_kind_type[key] > 1) {
            base = fmt::format("{}-{}", c->type, ++numbered[key]);
        }
        std::string id = base;
        if (taken.count(id) != 0) {
            id = fmt::format("{}-{}", kind_name(c->kind), base);
        }
        for (int n = 2; taken.count(id) != 0; ++n) {
            id = fmt::format("{}-{}-{}", kind_name(c->kind), base, n);
        }
        c->id = id;
        taken.insert(id);
    }
}

void check_sink_paths(const GatewayConfig& config, Diagnostics& diag) {
    namespace fs = std::filesystem;
    struct Writer {
        std::string file;  // normalised
        std::string label;
        SourcePos pos;
    };
    std::vector<Writer> seen;
    std::unordered_map<std::string, std::size_t> seen_at;  // file -> index in `seen`
    for (const auto& p : config.pipelines) {
        for (const auto& s : p.sinks) {
            if (s.type != "file" || !s.options.has("path")) {
                continue;
            }
            const std::string written = s.options.str("path");
            if (written.empty()) {
                continue;
            }
            std::error_code ec;
            fs::path file = fs::absolute(fs::path(written), ec);
            if (ec) {
                continue;
            }
            file = file.lexically_normal();
            // A device or pipe (/dev/stdout, /dev/null) is not a file a sink
            // owns: several may write to it.
            auto special = [](const std::string& t) { return t.rfind("/dev/", 0) == 0 || t.rfind("/proc/", 0) == 0; };
            if (special(file.string())) {
                continue;
            }
            // Through symbolic links, as far as they exist.
            if (fs::path real = fs::weakly_canonical(file, ec); !ec) {
                file = real;
            }
            const std::string text = file.string();
            if (special(text)) {
                continue;
            }
            if (const auto st = fs::status(file, ec); !ec && fs::exists(st) && !fs::is_regular_file(st)) {
                continue;
            }
            SourcePos at = s.options.pos("path");
            if (!has_position(at)) {
                at = s.pos;
            }
            const std::string label = fmt::format("pipelines.{} sink '{}'", p.name, s.id);
            const auto found = seen_at.find(text);
            const Writer* first = found == seen_at.end() ? nullptr : &seen[found->second];
            if (first != nullptr) {
                diag.error(at, fmt::format("{} writes {}, as {} does (at {}): two sinks would cut each other's output; "
                                           "give each its own path",
                                           label, text, first->label, first->pos.str()));
                continue;
            }
            seen_at.emplace(text, seen.size());
            seen.push_back({text, label, at});
        }
    }
}

void default_sections(GatewayConfig& config, const SourcePos& pos, Diagnostics& diag) {
    config.gateway = resolve_options(gateway_option_specs(), {}, "[gateway]", pos, diag);
    config.http = resolve_options(http_option_specs(), {}, "[http]", pos, diag);
}

}  // namespace sluice::config_detail
