// Tables and streams found through the components' option links.

#include "config/config.hpp"

namespace sluice {

std::vector<ComponentLink> component_links(const GatewayConfig& config) {
    std::vector<ComponentLink> out;
    for (std::size_t p = 0; p < config.pipelines.size(); ++p) {
        const auto& pl = config.pipelines[p];
        auto add = [&](const auto& components) {
            for (std::size_t i = 0; i < components.size(); ++i) {
                const ComponentSpec& c = components[i];
                if (c.descriptor == nullptr) {
                    continue;
                }
                for (auto& use : option_links(c.descriptor->options, c.options)) {
                    out.push_back(ComponentLink{std::move(use), p, &c, i});
                }
            }
        };
        add(pl.stages);
        add(pl.sources);
        add(pl.sinks);
    }
    return out;
}

}  // namespace sluice
