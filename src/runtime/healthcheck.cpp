#include "runtime/healthcheck.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "core/metrics.hpp"

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

bool check_stages(const GatewayConfig& config, Diagnostics& diag) {
    const std::size_t before = diag.size();
    for (const auto& p : config.pipelines) {
        for (const auto& s : p.stages) {
            try {
                (void)s.descriptor->make_stage(s.options);
            } catch (const std::exception& e) {
                // "option 'keep': ..." points at that option when it was written.
                SourcePos pos = s.pos;
                const std::string_view what = e.what();
                if (what.starts_with("option '")) {
                    const auto end = what.find('\'', 8);
                    const std::string name(what.substr(8, end == std::string_view::npos ? 0 : end - 8));
                    if (!name.empty() && s.options.is_explicit(name)) {
                        pos = s.options.pos(name);
                    }
                }
                diag.error(pos, fmt::format("stage '{}': {}", s.id, e.what()));
            }
        }
    }
    return diag.size() == before;
}

}  // namespace sluice
