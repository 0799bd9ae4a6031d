#include "runtime/healthcheck.hpp"

#include <cstdio>

#include "core/metrics.hpp"

namespace sluice {

bool run_healthcheck(const GatewayConfig& config) {
    bool all_ok = true;
    for (const auto& p : config.pipelines) {
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

}  // namespace sluice
