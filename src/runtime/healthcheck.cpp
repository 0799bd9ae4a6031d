#include "runtime/healthcheck.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "core/metrics.hpp"
#include "core/topology.hpp"

namespace sluice {

bool run_healthcheck(const GatewayConfig& config) {
    bool all_ok = true;
    for (const auto& p : config.pipelines) {
        // Sources that can be probed without starting them (a broker, a
        // publisher, a device): the others have nothing that can be down.
        for (const auto& s : p.sources) {
            if (!s.descriptor->probe) {
                continue;
            }
            const std::string label = p.name + "/" + s.id;
            std::string detail;
            bool ok = false;
            try {
                ok = s.descriptor->probe(s.options, detail);
            } catch (const std::exception& e) {
                detail = e.what();
            }
            std::printf("source %s: %s%s%s\n", label.c_str(), ok ? "reachable" : "UNREACHABLE",
                        detail.empty() ? "" : ": ", detail.c_str());
            all_ok = all_ok && ok;
        }
        for (const auto& s : p.sinks) {
            const std::string label = p.name + "/" + s.id;
            std::string reason;
            bool ok = false;
            try {
                auto sink = s.descriptor->make_sink(s.options);
                auto metrics = ComponentMetrics::for_component(label, "sink");
                SinkContext ctx{label, &metrics};
                sink->open(ctx);
                ok = sink->healthy(reason);
                sink->close();
            } catch (const std::exception& e) {
                reason = e.what();
            }
            std::printf("sink %s: %s%s%s\n", label.c_str(), ok ? "healthy" : "UNHEALTHY", reason.empty() ? "" : ": ",
                        reason.c_str());
            all_ok = all_ok && ok;
        }
    }
    return all_ok;
}

namespace {

// "option 'keep': ..." points at that option when it was written.
void report(const ComponentSpec& s, std::string_view what, Diagnostics& diag) {
    SourcePos pos = s.pos;
    if (what.starts_with("option '")) {
        const auto end = what.find('\'', 8);
        const std::string name(what.substr(8, end == std::string_view::npos ? 0 : end - 8));
        if (!name.empty() && s.options.is_explicit(name)) {
            pos = s.options.pos(name);
        }
    }
    diag.error(pos, fmt::format("{} '{}': {}", kind_name(s.kind), s.id, what));
}

template <class F>
void try_build(const ComponentSpec& s, Diagnostics& diag, F&& make) {
    try {
        (void)make(s.options);
    } catch (const std::exception& e) {
        report(s, e.what(), diag);
    }
}

}  // namespace

bool check_build(const GatewayConfig& config, Diagnostics& diag) {
    const std::size_t before = diag.size();
    for (const auto& p : config.pipelines) {
        for (const auto& s : p.sources) {
            // Not the source itself: some take their resource when built (a
            // unix datagram source binds its socket), which the running
            // gateway holds during a reload. Its decoders and topology are
            // what can fail from the options alone.
            for (const auto& d : s.decoders) {
                try_build(d, diag, d.descriptor->make_decoder);
            }
            try {
                const SourceCommon common = source_common_options(s.options);
                std::string error;
                if (!Topology::make(common.topology, common.topology_pattern, common.topology_regex, &error)) {
                    report(s, error, diag);
                }
            } catch (const std::exception& e) {
                report(s, e.what(), diag);
            }
        }
        for (const auto& s : p.stages) {
            try_build(s, diag, s.descriptor->make_stage);
        }
        for (const auto& s : p.sinks) {
            try_build(s, diag, s.descriptor->make_sink);
        }
    }
    return diag.size() == before;
}

}  // namespace sluice
