// Topology mapping on arbitrary origins (a peer chooses its MQTT or ZeroMQ
// topic) and arbitrary patterns. The input is "MODE\nPATTERN\nORIGIN":
// MODE is wan, lan, pattern or regex; PATTERN the topology_pattern or
// topology_regex. The origin is also run through a fixed set of the
// documented layouts, including the regex that overflowed std::regex.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/topology.hpp"

namespace {

const std::vector<sluice::Topology>& fixed_layouts() {
    static const std::vector<sluice::Topology> layouts = [] {
        std::vector<sluice::Topology> out;
        std::string error;
        const std::pair<std::string_view, std::string_view> specs[] = {
            {"wan", ""},
            {"lan", ""},
            {"pattern", "{realm}/{network}/+/{node}/#"},
            {"pattern", "sensors/{node}/{measurement}"},
            {"regex", "(?P<a>[^/]+)/(?P<b>.+)"},
            {"regex", "plant/(?P<line>[^/]+)/(?<measurement>[a-z]+)/(\\d+)"},
            {"regex", "(x+x+)+y"},
        };
        for (const auto& [mode, text] : specs) {
            auto t = sluice::Topology::make(mode, mode == "pattern" ? text : "", mode == "regex" ? text : "", &error);
            if (t) {
                out.push_back(std::move(*t));
            }
        }
        return out;
    }();
    return layouts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size > 1024 * 1024) {
        return 0;
    }
    const auto nl1 = text.find('\n');
    const std::string_view mode = text.substr(0, nl1);
    const std::string_view rest = nl1 == std::string_view::npos ? std::string_view() : text.substr(nl1 + 1);
    const auto nl2 = rest.find('\n');
    const std::string_view pattern = rest.substr(0, nl2);
    const std::string_view origin = nl2 == std::string_view::npos ? rest : rest.substr(nl2 + 1);

    for (const auto& t : fixed_layouts()) {
        sluice::Record r;
        (void)t.apply(origin, r);
    }
    std::string error;
    auto t = sluice::Topology::make(mode, mode == "pattern" ? pattern : std::string_view(),
                                    mode == "regex" ? pattern : std::string_view(), &error);
    if (t) {
        sluice::Record r;
        r.tags.push_back({"node", "from-payload"});
        const bool fits = t->apply(origin, r);
        if (!fits && (r.tags.size() != 1 || !r.measurement.empty())) {
            __builtin_trap();  // an origin that does not fit must leave the record as it was
        }
    }
    return 0;
}
