// `sluice relay SOURCE_URL [SINK_URL]`: a one-pipeline config from two URLs.
//
//   file:///var/log/sensors.log?decode=json,influx&buffer.max_bytes=64MiB
//
// The scheme picks the component; the path goes to its url_path_option, host,
// port, user and password to the options of those names and query
// parameters to options, except `decode` (the decode chain), `<decoder>.key`
// (that decoder's options) and `buffer.key` / `pipeline.key`.

#include <algorithm>

#include <fmt/format.h>

#include "config/config_build.hpp"
#include "core/url.hpp"

namespace sluice {

namespace {

using config_detail::column_of;

constexpr std::string_view kOrigin = "relay";

// Where the parts of a URL start in its text, mirroring parse_url, so that
// messages point at the right column.
struct UrlOffsets {
    std::size_t path = 0;
    std::vector<std::pair<std::size_t, std::size_t>> query;  // key, value offsets of non-empty pairs
};

UrlOffsets url_offsets(std::string_view text) {
    UrlOffsets o;
    const auto colon = text.find(':');
    std::size_t i = colon == std::string_view::npos ? 0 : colon + 1;
    const auto q = text.find('?');
    const std::size_t end = q == std::string_view::npos ? text.size() : q;
    if (text.substr(i, 2) == "//" && i + 2 <= end) {
        const auto slash = text.find('/', i + 2);
        i = (slash == std::string_view::npos || slash > end) ? end : slash;
    }
    o.path = i;
    if (q != std::string_view::npos) {
        std::size_t start = q + 1;
        while (start <= text.size()) {
            auto amp = text.find('&', start);
            if (amp == std::string_view::npos) {
                amp = text.size();
            }
            if (amp > start) {
                const auto eq = text.substr(start, amp - start).find('=');
                o.query.emplace_back(start, eq == std::string_view::npos ? amp : start + eq + 1);
            }
            start = amp + 1;
        }
    }
    return o;
}

struct Endpoint {
    const Descriptor* descriptor = nullptr;
    RawTable table;
    SourcePos pos;
};

class RelayParser {
public:
    RelayParser(const Registry& registry, Diagnostics& diag) : registry_(registry), diag_(diag) {}

    std::optional<GatewayConfig> parse(std::string_view source_url, std::string_view sink_url) {
        const std::size_t errors_before = diag_.size();
        GatewayConfig config;
        config.origin = std::string(kOrigin);
        config_detail::default_sections(config, pos(1, 0, {}), diag_);

        PipelineSpec p;
        p.name = "relay";
        p.pos = pos(1, 0, {});
        Endpoint source = endpoint(Kind::Source, source_url, 1);
        Endpoint sink = endpoint(Kind::Sink, sink_url.empty() ? std::string_view("-") : sink_url, 2);
        if (source.descriptor != nullptr) {
            p.sources.push_back(config_detail::build_source(*source.descriptor, source.table, source.pos, registry_,
                                                            diag_, decoder_options_));
        }
        if (sink.descriptor != nullptr) {
            p.sinks.push_back(config_detail::build_component(*sink.descriptor, sink.table, sink.pos, diag_));
        }
        p.options = resolve_options(pipeline_option_specs(), pipeline_table_, "pipeline", p.pos, diag_);
        p.buffer = resolve_options(buffer_option_specs(), buffer_table_, "buffer", p.pos, diag_);
        if (!p.sources.empty() && !p.sinks.empty()) {
            config_detail::finish_pipeline(p, diag_);
        }
        config.pipelines.push_back(std::move(p));
        if (diag_.size() != errors_before) {
            return std::nullopt;
        }
        return config;
    }

private:
    static SourcePos pos(int line, std::size_t offset, std::string_view text) {
        return SourcePos{std::string(kOrigin), line, column_of(text, offset)};
    }

    std::vector<std::string> schemes(Kind kind) const {
        std::vector<std::string> out;
        for (const Descriptor* d : registry_.all()) {
            if (d->kind == kind) {
                for (auto s : d->url_schemes) {
                    out.emplace_back(s);
                }
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    Endpoint endpoint(Kind kind, std::string_view text, int line) {
        Endpoint ep;
        ep.pos = pos(line, 0, text);
        if (text == "-") {
            const std::string_view name = kind == Kind::Source ? "stdin" : "stdout";
            ep.descriptor = registry_.find(kind, name);
            if (ep.descriptor == nullptr) {
                diag_.error(ep.pos, fmt::format("'-' means the {} {}, which this build does not have", name,
                                                kind_name(kind)));
            }
            return ep;
        }
        std::string error;
        auto url = parse_url(text, &error);
        if (!url) {
            diag_.error(ep.pos, fmt::format("invalid {} URL: {}", kind_name(kind), error));
            return ep;
        }
        ep.descriptor = registry_.find_scheme(kind, url->scheme);
        if (ep.descriptor == nullptr) {
            const auto known = schemes(kind);
            std::string msg = fmt::format("unknown {} URL scheme '{}:'", kind_name(kind), url->scheme);
            if (auto near = did_you_mean(url->scheme, std::span<const std::string>(known))) {
                msg += fmt::format(" (did you mean '{}:'?)", *near);
            } else if (!known.empty()) {
                std::string list;
                for (const auto& s : known) {
                    list += (list.empty() ? "" : ", ") + s + ":";
                }
                msg += fmt::format(" (known: {})", list);
            }
            diag_.error(ep.pos, std::move(msg));
            return ep;
        }
        const Descriptor& d = *ep.descriptor;
        const UrlOffsets offsets = url_offsets(text);

        // Query parameters that are not the component's own.
        Url own = *url;
        own.query.clear();
        RawTable own_params;
        for (std::size_t i = 0; i < url->query.size(); ++i) {
            const auto& [key, value] = url->query[i];
            const std::size_t key_off = i < offsets.query.size() ? offsets.query[i].first : 0;
            const std::size_t value_off = i < offsets.query.size() ? offsets.query[i].second : 0;
            RawEntry e;
            e.key = key;
            e.key_pos = pos(line, key_off, text);
            e.value.v = value;
            e.value.pos = pos(line, value_off, text);
            e.value.from_text = true;
            const auto dot = key.find('.');
            if (kind == Kind::Source && key == "decode") {
                ep.table.push_back(std::move(e));
            } else if (dot != std::string::npos && dot > 0 && dot + 1 < key.size()) {
                const std::string prefix = key.substr(0, dot);
                e.key = key.substr(dot + 1);
                e.key_pos.column += static_cast<int>(dot + 1);
                if (prefix == "buffer") {
                    buffer_table_.push_back(std::move(e));
                } else if (prefix == "pipeline") {
                    pipeline_table_.push_back(std::move(e));
                } else if (kind == Kind::Source) {
                    config_detail::DecoderOption opt;
                    opt.decoder = prefix;
                    opt.pos = pos(line, key_off, text);
                    opt.entry = std::move(e);
                    decoder_options_.push_back(std::move(opt));
                } else {
                    diag_.error(pos(line, key_off, text),
                                fmt::format("unknown parameter '{}' in the sink URL (decoder options belong to the "
                                            "source URL)",
                                            key));
                }
            } else {
                own.query.emplace_back(key, value);
                own_params.push_back(std::move(e));
            }
        }

        if (d.from_url) {
            RawTable mapped;
            try {
                d.from_url(own, mapped);
            } catch (const std::exception& ex) {
                diag_.error(ep.pos, fmt::format("invalid {} URL: {}", kind_name(kind), ex.what()));
                ep.descriptor = nullptr;
                return ep;
            } catch (...) {
                diag_.error(ep.pos, fmt::format("invalid {} URL", kind_name(kind)));
                ep.descriptor = nullptr;
                return ep;
            }
            for (auto& e : mapped) {
                if (e.key_pos.line == 0) {
                    e.key_pos = ep.pos;
                }
                if (e.value.pos.line == 0) {
                    e.value.pos = e.key_pos;
                }
                ep.table.push_back(std::move(e));
            }
            return ep;
        }

        auto has_option = [&](std::string_view name) {
            return std::any_of(d.options.begin(), d.options.end(), [&](const OptionSpec& s) { return s.name == name; });
        };
        auto add = [&](std::string key, std::string value, std::size_t offset) {
            RawEntry e;
            e.key = std::move(key);
            e.key_pos = pos(line, offset, text);
            e.value.v = std::move(value);
            e.value.pos = e.key_pos;
            e.value.from_text = true;
            ep.table.push_back(std::move(e));
        };
        const std::string context = config_detail::component_context(kind, d.name);
        if (!url->host.empty()) {
            if (has_option("host")) {
                add("host", url->host, 0);
            } else {
                diag_.error(ep.pos, fmt::format("{} URLs have no host part; for a path write {}:///path (three "
                                                "slashes) or {}:relative/path",
                                                context, url->scheme, url->scheme));
                ep.descriptor = nullptr;  // its other messages would only repeat this one
                return ep;
            }
        }
        if (url->port != 0) {
            add("port", std::to_string(url->port), 0);
        }
        if (!url->user.empty()) {
            add("user", url->user, 0);
        }
        if (!url->password.empty()) {
            add("password", url->password, 0);
        }
        if (!url->path.empty() && url->path != "/") {
            if (!d.url_path_option.empty()) {
                add(std::string(d.url_path_option), url->path, offsets.path);
            } else {
                diag_.error(pos(line, offsets.path, text), fmt::format("{} URLs take no path", context));
            }
        }
        for (auto& e : own_params) {
            ep.table.push_back(std::move(e));
        }
        return ep;
    }

    const Registry& registry_;
    Diagnostics& diag_;
    RawTable buffer_table_;
    RawTable pipeline_table_;
    std::vector<config_detail::DecoderOption> decoder_options_;
};

}  // namespace

std::optional<GatewayConfig> parse_relay(std::string_view source_url, std::string_view sink_url,
                                         const Registry& registry, Diagnostics& diag) {
    RelayParser parser(registry, diag);
    const std::size_t warned = diag.warnings().size();
    auto config = parser.parse(source_url, sink_url);
    log_warnings(diag, warned);
    return config;
}

}  // namespace sluice
