// sluice::embed::Config: a configuration built in code, written out as TOML
// for the one configuration parser (so its errors read as a file's would).

#include <charconv>
#include <cmath>
#include <cstdio>

#include "sluice/sluice.hpp"

namespace sluice::embed {
namespace {

void append_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (u < 0x20 || u == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", u);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

// One level of a key: bare when TOML allows it, else quoted.
void append_key_part(std::string& out, std::string_view part) {
    const bool bare = !part.empty() && part.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                              "0123456789_-") == std::string_view::npos;
    if (bare) {
        out += part;
    } else {
        append_string(out, part);
    }
}

// A dotted key: "buffer.retain" is two levels, as in TOML.
void append_key(std::string& out, std::string_view key) {
    std::size_t from = 0;
    for (;;) {
        const auto dot = key.find('.', from);
        append_key_part(out, key.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from));
        if (dot == std::string_view::npos) {
            return;
        }
        out += '.';
        from = dot + 1;
    }
}

// Text is kept as std::string: a `const char*` given to set() may be gone
// by the time toml() runs.
Config::OptionValue owned(Config::OptionValue v) {
    if (const auto* p = std::get_if<const char*>(&v)) {
        return std::string(*p == nullptr ? "" : *p);
    }
    return v;
}

Config::Options owned(Config::Options options) {
    for (auto& [key, value] : options) {
        value = owned(std::move(value));
    }
    return options;
}

void append_value(std::string& out, const Config::OptionValue& v) {
    std::visit(
        [&out](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string>) {
                append_string(out, x);
            } else if constexpr (std::is_same_v<T, const char*>) {
                append_string(out, x == nullptr ? "" : x);
            } else if constexpr (std::is_same_v<T, bool>) {
                out += x ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                if (std::isnan(x)) {
                    out += "nan";
                } else if (std::isinf(x)) {
                    out += x > 0 ? "inf" : "-inf";
                } else {
                    char buf[64];
                    const auto res = std::to_chars(buf, buf + sizeof buf, x);
                    std::string_view text(buf, static_cast<std::size_t>(res.ptr - buf));
                    out += text;
                    if (text.find_first_of(".eE") == std::string_view::npos) {
                        out += ".0";  // a TOML float, not an integer
                    }
                }
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                out += '[';
                for (std::size_t i = 0; i < x.size(); ++i) {
                    if (i > 0) {
                        out += ", ";
                    }
                    append_string(out, x[i]);
                }
                out += ']';
            } else {
                out += std::to_string(x);
            }
        },
        v);
}

void append_options(std::string& out, const Config::Options& options) {
    for (const auto& [key, value] : options) {
        append_key(out, key);
        out += " = ";
        append_value(out, value);
        out += '\n';
    }
}

void set_in(Config::Options& options, std::string_view key, Config::OptionValue value) {
    value = owned(std::move(value));
    for (auto& [k, v] : options) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    options.emplace_back(std::string(key), std::move(value));
}

}  // namespace

Config& Config::set(std::string_view section, std::string_view key, OptionValue value) {
    for (auto& s : sections_) {
        if (s.name == section) {
            set_in(s.options, key, std::move(value));
            return *this;
        }
    }
    sections_.push_back(Section{std::string(section), {}});
    set_in(sections_.back().options, key, std::move(value));
    return *this;
}

Config::Pipeline& Config::pipeline(std::string_view name) {
    for (auto& p : pipelines_) {
        if (p.name == name) {
            return p;
        }
    }
    pipelines_.push_back(Pipeline{std::string(name), {}, {}, {}, {}});
    return pipelines_.back();
}

Config& Config::pipeline_option(std::string_view name, std::string_view key, OptionValue value) {
    set_in(pipeline(name).options, key, std::move(value));
    return *this;
}

Config& Config::source(std::string_view name, std::string_view type, Options options) {
    pipeline(name).sources.push_back(Component{std::string(type), owned(std::move(options))});
    return *this;
}

Config& Config::stage(std::string_view name, std::string_view type, Options options) {
    pipeline(name).stages.push_back(Component{std::string(type), owned(std::move(options))});
    return *this;
}

Config& Config::sink(std::string_view name, std::string_view type, Options options) {
    pipeline(name).sinks.push_back(Component{std::string(type), owned(std::move(options))});
    return *this;
}

std::string Config::toml() const {
    std::string out;
    for (const auto& s : sections_) {
        out += '[';
        append_key(out, s.name);
        out += "]\n";
        append_options(out, s.options);
        out += '\n';
    }
    for (const auto& p : pipelines_) {
        std::string prefix = "pipelines.";
        append_key(prefix, p.name);
        out += "[" + prefix + "]\n";
        append_options(out, p.options);
        out += '\n';
        auto components = [&](const std::vector<Component>& list, std::string_view kind) {
            for (const auto& c : list) {
                out += "[[" + prefix + "." + std::string(kind) + "]]\ntype = ";
                append_string(out, c.type);
                out += '\n';
                append_options(out, c.options);
                out += '\n';
            }
        };
        components(p.sources, "sources");
        components(p.stages, "stages");
        components(p.sinks, "sinks");
    }
    return out;
}

}  // namespace sluice::embed
