// docs/config-reference.md and `sluice components NAME`, both generated from
// the same option tables the parser uses, so they cannot drift apart.

#include <algorithm>
#include <cmath>
#include <span>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/docs.hpp"

namespace sluice {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        const auto at = s.find(sep);
        auto item = s.substr(0, at);
        while (!item.empty() && item.front() == ' ') {
            item.remove_prefix(1);
        }
        while (!item.empty() && item.back() == ' ') {
            item.remove_suffix(1);
        }
        if (!item.empty()) {
            out.push_back(item);
        }
        if (at == std::string_view::npos) {
            break;
        }
        s.remove_prefix(at + 1);
    }
    return out;
}

// The default as one would write it in TOML.
std::string default_text(const OptionSpec& s) {
    if (s.required) {
        return "required";
    }
    if (s.default_value.empty()) {
        return "";
    }
    switch (s.type) {
        case OptionType::Int:
        case OptionType::Float:
        case OptionType::Bool:
            return std::string(s.default_value);
        case OptionType::List: {
            std::string out = "[";
            for (auto item : split(s.default_value, ',')) {
                out += fmt::format("{}\"{}\"", out.size() > 1 ? ", " : "", item);
            }
            return out + "]";
        }
        default:
            return fmt::format("\"{}\"", s.default_value);
    }
}

std::string bound(OptionType type, double v) {
    switch (type) {
        case OptionType::Duration: {
            const double ns = std::min(v * 1e9, 9.2e18);
            return format_duration(std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns))));
        }
        case OptionType::Size:
            return format_size(static_cast<std::uint64_t>(std::min(v, 1.8e19)));
        case OptionType::Float:
            return fmt::format("{}", v);
        default:
            return fmt::format("{}", static_cast<std::int64_t>(v));
    }
}

// "1 to 100000", "at least 64KiB", "one of: a, b", or "".
std::string range_text(const OptionSpec& s) {
    if (s.type == OptionType::Enum) {
        std::string out;
        for (auto c : split(s.choices, '|')) {
            out += fmt::format("{}{}", out.empty() ? "" : ", ", c);
        }
        return out.empty() ? out : "one of: " + out;
    }
    if (s.type == OptionType::Bool) {
        return "";
    }
    const bool has_min = std::isfinite(s.min);
    const bool has_max = std::isfinite(s.max);
    if (!has_min && !has_max) {
        return "";
    }
    std::string unit;
    if (s.type == OptionType::String || s.type == OptionType::Secret) {
        unit = " characters";
    } else if (s.type == OptionType::List) {
        unit = " elements";
    }
    if (!unit.empty() && s.min == 1 && !has_max) {
        return "not empty";
    }
    if (has_min && has_max) {
        return fmt::format("{} to {}{}", bound(s.type, s.min), bound(s.type, s.max), unit);
    }
    if (has_min) {
        return fmt::format("at least {}{}", bound(s.type, s.min), unit);
    }
    return fmt::format("at most {}{}", bound(s.type, s.max), unit);
}

std::string cell(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::string code(std::string_view s) { return s.empty() ? std::string() : fmt::format("`{}`", cell(s)); }

// The description cell: the doc, and what the value names (OptionLink).
std::string doc_text(const OptionSpec& s) {
    std::string out = cell(s.doc);
    if (s.link != OptionLink::None) {
        out += fmt::format("{}*({})*", out.empty() ? "" : " ", option_link_name(s.link));
    }
    return out;
}

// "Delivery: at-least-once. <loss window>", or for a stage what a crash does.
std::string delivery_text(const Descriptor& d) {
    if (d.delivery == Delivery::NotApplicable) {
        return d.loss_window.empty() ? std::string() : fmt::format("On a crash: {}", d.loss_window);
    }
    return fmt::format("Delivery: {}.{}{}", delivery_name(d.delivery), d.loss_window.empty() ? "" : " ",
                       d.loss_window);
}

std::string markdown_table(std::span<const OptionSpec> specs) {
    if (specs.empty()) {
        return "No options.\n";
    }
    std::string out = "| Option | Type | Default | Range / choices | Description |\n";
    out += "|---|---|---|---|---|\n";
    for (const auto& s : specs) {
        const std::string def = default_text(s);
        out += fmt::format("| `{}` | {} | {} | {} | {} |\n", s.name, option_type_name(s.type),
                           s.required ? std::string("**required**") : code(def), cell(range_text(s)), doc_text(s));
        if (!s.deprecated_alias.empty()) {
            out += fmt::format("| `{}` | {} |  |  | *Deprecated*: the old name of `{}`; use `{}` |\n",
                               s.deprecated_alias, option_type_name(s.type), s.name, s.name);
        }
    }
    return out;
}

int kind_order(Kind k) {
    switch (k) {
        case Kind::Source:
            return 0;
        case Kind::Decoder:
            return 1;
        case Kind::Stage:
            return 2;
        case Kind::Sink:
            return 3;
    }
    return 4;
}

std::string_view kind_title(Kind k) {
    switch (k) {
        case Kind::Source:
            return "Sources";
        case Kind::Decoder:
            return "Decoders";
        case Kind::Stage:
            return "Stages";
        case Kind::Sink:
            return "Sinks";
    }
    return "";
}

std::string schemes_text(const Descriptor& d) {
    std::string out;
    for (auto s : d.url_schemes) {
        out += fmt::format("{}{}:", out.empty() ? "" : ", ", s);
    }
    return out;
}

std::string text_options(std::span<const OptionSpec> specs) {
    std::string out;
    for (const auto& s : specs) {
        std::string head = fmt::format("  {} ({}", s.name, option_type_name(s.type));
        if (s.required) {
            head += ", required";
        } else if (!s.default_value.empty()) {
            head += ", default " + default_text(s);
        }
        if (const auto r = range_text(s); !r.empty()) {
            head += ", " + r;
        }
        if (s.link != OptionLink::None) {
            head += fmt::format(", {}", option_link_name(s.link));
        }
        out += head + ")\n";
        if (!s.doc.empty()) {
            out += fmt::format("      {}\n", s.doc);
        }
        if (!s.deprecated_alias.empty()) {
            out += fmt::format("  {} (deprecated: the old name of {}; use {})\n", s.deprecated_alias, s.name, s.name);
        }
    }
    return out;
}

std::string toml_string(std::string_view v) {
    std::string out = "\"";
    for (const char c : v) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + '"';
}

// The first sentence of an option's doc, on one line.
std::string one_line(std::string_view doc) {
    std::string out;
    for (std::size_t i = 0; i < doc.size(); ++i) {
        const char c = doc[i];
        const bool abbreviation = out.ends_with("e.g") || out.ends_with("i.e") || out.ends_with("etc");
        const bool sentence_ends =
            i + 1 == doc.size() || doc[i + 1] == '\n' ||
            (doc[i + 1] == ' ' && i + 2 < doc.size() && doc[i + 2] >= 'A' && doc[i + 2] <= 'Z');
        if (c == '.' && !abbreviation && sentence_ends) {
            break;
        }
        out += c == '\n' ? ' ' : c;
    }
    return out;
}

// An example value for a required option (it has no default): by name where
// the name says what is wanted, else by type.
std::string example_value(const OptionSpec& s) {
    const std::string_view n = s.name;
    auto list = [&](std::string_view item) {
        return s.type == OptionType::List ? fmt::format("[{}]", toml_string(item)) : toml_string(item);
    };
    if (n == "path") return list("/var/lib/sluice/example");
    if (n == "brokers") return list("localhost:9092");
    if (n == "topics") return list("sensors/#");
    if (n == "endpoints") return list("tcp://127.0.0.1:5556");
    if (n == "device") return list("iio:device0");
    if (n == "channels") return list("in_voltage0_raw");
    if (n == "table" || n == "stream" || n == "job") return list("example");
    if (n == "key") return list("{node}");
    if (n == "left") return list("measurement == 'temperature'");
    if (n == "right") return list("measurement == 'humidity'");
    if (!s.choices.empty()) {
        const auto bar = s.choices.find('|');
        return toml_string(s.choices.substr(0, bar));
    }
    switch (s.type) {
        case OptionType::Int: return s.min > 0 && std::isfinite(s.min) ? fmt::format("{}", s.min) : "1";
        case OptionType::Float: return "1.0";
        case OptionType::Bool: return "true";
        case OptionType::Duration: return "\"10s\"";
        case OptionType::Size: return "\"1MiB\"";
        case OptionType::List: return "[\"example\"]";
        default: return "\"example\"";
    }
}

// Components whose factory wants one of several optional options set (an
// option table cannot say "exactly one of"): the snippet sets this one with
// an example value, and the others stay commented.
struct ChosenOption {
    std::string_view component;
    std::string_view option;
    std::string_view value;
};
constexpr ChosenOption kChosen[] = {
    {"filter", "keep", "\"exists(temperature)\""},
    {"divide", "groups", "[\"climate: temperature humidity\"]"},
};

const ChosenOption* chosen_option(const Descriptor& d) {
    for (const auto& c : kChosen) {
        if (c.component == d.name && d.kind == Kind::Stage) {
            return &c;
        }
    }
    return nullptr;
}

void toml_options(std::string& out, std::span<const OptionSpec> specs, bool required,
                  const ChosenOption* chosen = nullptr) {
    for (const auto& s : specs) {
        if (chosen != nullptr && s.name == chosen->option) {
            if (required) {
                out += fmt::format("{} = {}\n", s.name, chosen->value);
            }
            continue;
        }
        if (s.required != required || (!required && s.name == "type")) {
            continue;
        }
        std::string line = required ? fmt::format("{} = {}", s.name, example_value(s))
                                    : fmt::format("# {} = {}", s.name,
                                                  s.default_value.empty() ? std::string("(unset)") : default_text(s));
        const std::string doc = one_line(s.doc);
        if (!doc.empty()) {
            line += std::string(line.size() < 38 ? 38 - line.size() : 1, ' ') + "# " +
                    (required ? "required: " : "") + doc;
        }
        out += line + "\n";
    }
}

}  // namespace

std::string component_toml(const Descriptor& d, std::string_view pipeline) {
    std::string out = fmt::format("# {} {}: {}\n", d.name, kind_name(d.kind), d.summary);
    if (d.kind == Kind::Decoder) {
        // A decoder is an entry of a source's decode list.
        std::string inline_required;
        for (const auto& s : d.options) {
            if (s.required) {
                inline_required += fmt::format(", {} = {}", s.name, example_value(s));
            }
        }
        out += fmt::format("# In a source: decode = [\"{}\"], or with options as below.\n", d.name);
        out += fmt::format("[[pipelines.{}.sources]]\ntype = \"stdin\"\n", pipeline);
        out += fmt::format("decode = [{{ type = \"{}\"{} }}]\n", d.name, inline_required);
        if (!d.options.empty()) {
            out += "# Options inside the { }:\n";
            toml_options(out, d.options, false);
        }
        return out;
    }
    const std::string_view section = d.kind == Kind::Source ? "sources" : d.kind == Kind::Stage ? "stages" : "sinks";
    out += fmt::format("[[pipelines.{}.{}]]\ntype = \"{}\"\n", pipeline, section, d.name);
    const ChosenOption* chosen = chosen_option(d);
    toml_options(out, d.options, true, chosen);
    toml_options(out, d.options, false, chosen);
    if (d.kind == Kind::Source) {
        out += "# Options of every source:\n";
        toml_options(out, source_common_option_specs(), false);
    } else if (d.kind == Kind::Sink) {
        out += "# Options of every sink:\n";
        toml_options(out, sink_common_option_specs(), false);
    }
    return out;
}

std::string generate_config_reference(const Registry& registry) {
    std::string out;
    out += "# Configuration reference\n\n";
    out += "<!-- Generated from the option tables in the source (generate_config_reference). Do not edit. -->\n\n";
    out += "sluice reads `/etc/sluice/sluice.toml` (or the file given with `-c`). Unknown keys are errors.\n\n";
    out += "## Values\n\n";
    out += "- **duration**: a number with a unit: `ns`, `us`, `ms`, `s`, `m`, `h`, `d`; parts may be combined "
           "(`\"1m30s\"`) and may have decimals (`\"1.5s\"`). `0` needs no unit.\n";
    out += "- **size**: bytes, or a number with a unit: `KB`, `MB`, `GB` (powers of 1000), `KiB`, `MiB`, `GiB` or "
           "`K`, `M`, `G` (powers of 1024), e.g. `\"64MiB\"`.\n";
    out += "- **list**: an array of strings, or one string with comma-separated items.\n";
    out += "- **secret**: a string, `\"@/path/to/file\"` (the file's contents, trailing newline removed) or "
           "`\"@credential:NAME\"` (systemd's `$CREDENTIALS_DIRECTORY/NAME`); `\"@@...\"` for a literal `@`. "
           "Secrets are never logged.\n";
    out += "- Every string may use `${NAME}` (environment variable; an unset one is an error), "
           "`${NAME:-default}`, and `$${` for a literal `${`.\n\n";

    auto section = [&](std::string_view title, std::string_view intro, std::span<const OptionSpec> specs) {
        out += fmt::format("## {}\n\n", title);
        if (!intro.empty()) {
            out += fmt::format("{}\n\n", intro);
        }
        out += markdown_table(specs);
        out += "\n";
    };
    section("[gateway]", "Settings of the gateway process.", gateway_option_specs());
    section("[http]", "The gateway's own HTTP API.", http_option_specs());
    section("[pipelines.NAME]",
            "Any number of independent pipelines, each with `[[pipelines.NAME.sources]]`, optional "
            "`[[pipelines.NAME.stages]]` and `[[pipelines.NAME.sinks]]`. Every component table has `type` (the "
            "component's name below) and an optional `id`, unique within the pipeline.",
            pipeline_option_specs());
    section("[pipelines.NAME.buffer]", "The pipeline's SQLite store-and-forward buffer.", buffer_option_specs());
    section("[tables.NAME]",
            "Named tables of the latest value (a flat JSON object) per key, kept in `<data_dir>/tables.db` across "
            "restarts and reloads. The `table` stage writes them, `enrich` reads them, and public ones are served "
            "at `/api/table/NAME/` (see docs/operations.md).",
            table_option_specs());
    section("Options of every source", "", source_common_option_specs());
    section("Options of every sink", "", sink_common_option_specs());

    std::vector<const Descriptor*> all = registry.all();
    std::sort(all.begin(), all.end(), [](const Descriptor* a, const Descriptor* b) {
        if (kind_order(a->kind) != kind_order(b->kind)) {
            return kind_order(a->kind) < kind_order(b->kind);
        }
        return a->name < b->name;
    });
    std::optional<Kind> current;
    for (const Descriptor* d : all) {
        if (!current || *current != d->kind) {
            current = d->kind;
            out += fmt::format("## {}\n\n", kind_title(d->kind));
        }
        out += fmt::format("### {}\n\n", d->name);
        if (!d->summary.empty()) {
            out += fmt::format("{}\n\n", d->summary);
        }
        if (!d->url_schemes.empty()) {
            out += fmt::format("URL schemes: {}", code(schemes_text(*d)));
            if (!d->url_example.empty()) {
                out += fmt::format(", e.g. {}", code(d->url_example));
            }
            out += "\n\n";
        }
        out += component_markdown(*d);
        out += "\n";
    }
    // One trailing newline only: the file is compared byte for byte.
    while (out.size() > 1 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') {
        out.pop_back();
    }
    return out;
}

std::string component_markdown(const Descriptor& d) {
    std::string out;
    if (const auto delivery = delivery_text(d); !delivery.empty()) {
        out += fmt::format("{}\n\n", delivery);
    }
    return out + markdown_table(d.options);
}

std::string describe_component(const Descriptor& d) {
    std::string out = fmt::format("{} ({})\n", d.name, kind_name(d.kind));
    if (!d.summary.empty()) {
        out += fmt::format("  {}\n", d.summary);
    }
    if (!d.url_schemes.empty()) {
        out += fmt::format("\nURL schemes: {}\n", schemes_text(d));
        if (!d.url_example.empty()) {
            out += fmt::format("Example:     sluice relay {}{}\n", d.kind == Kind::Sink ? "- " : "", d.url_example);
        }
    }
    if (const auto delivery = delivery_text(d); !delivery.empty()) {
        out += fmt::format("\n{}\n", delivery);
    }
    out += "\nOptions:\n";
    out += d.options.empty() ? "  (none)\n" : text_options(d.options);
    if (d.kind == Kind::Source) {
        out += "\nOptions of every source:\n" + text_options(source_common_option_specs());
    } else if (d.kind == Kind::Sink) {
        out += "\nOptions of every sink:\n" + text_options(sink_common_option_specs());
    }
    return out;
}

}  // namespace sluice
