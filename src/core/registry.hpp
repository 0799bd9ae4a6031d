#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/component.hpp"

namespace sluice {

class Registry {
public:
    void add(const Descriptor& d);
    const Descriptor* find(Kind kind, std::string_view name) const;
    const Descriptor* find_scheme(Kind kind, std::string_view scheme) const;
    std::vector<std::string> names(Kind kind) const;
    const std::vector<const Descriptor*>& all() const { return all_; }

private:
    std::vector<const Descriptor*> all_;
};

// Filled by the CMake-generated list of enabled components.
void register_builtin_components(Registry& registry);

// The process-wide registry with every built-in component.
const Registry& builtin_registry();

}  // namespace sluice
