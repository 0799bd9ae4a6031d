#include "core/registry.hpp"

#include <algorithm>
#include <cassert>

namespace sluice {

void Registry::add(const Descriptor& d) {
    assert(find(d.kind, d.name) == nullptr && "component registered twice");
#ifndef NDEBUG
    // The runtime hands tables and outgoing streams to stages only, and
    // incoming streams to sources (see OptionLink).
    for (const auto& o : d.options) {
        assert((o.link == OptionLink::None || o.type == OptionType::String || o.type == OptionType::List) &&
               "a link option names tables or streams: String or List");
        assert((links_table(o.link) || o.link == OptionLink::EmitsStream ? d.kind == Kind::Stage : true) &&
               "only stages use tables and emit to streams");
        assert((o.link == OptionLink::ConsumesStream ? d.kind == Kind::Source : true) &&
               "only sources consume streams");
    }
#endif
    all_.push_back(&d);
}

const Descriptor* Registry::find(Kind kind, std::string_view name) const {
    for (const auto* d : all_) {
        if (d->kind == kind && d->name == name) {
            return d;
        }
    }
    return nullptr;
}

const Descriptor* Registry::find_scheme(Kind kind, std::string_view scheme) const {
    for (const auto* d : all_) {
        if (d->kind != kind) {
            continue;
        }
        for (auto s : d->url_schemes) {
            if (s == scheme) {
                return d;
            }
        }
    }
    return nullptr;
}

std::vector<std::string> Registry::names(Kind kind) const {
    std::vector<std::string> out;
    for (const auto* d : all_) {
        if (d->kind == kind) {
            out.emplace_back(d->name);
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace sluice
