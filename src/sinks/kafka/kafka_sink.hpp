#pragma once
// The kafka sink's option → librdkafka property mapping, exposed for tests.

#include <string>
#include <utility>
#include <vector>

#include "core/component.hpp"

namespace sluice::kafka {

struct Property {
    std::string key;
    std::string value;
    bool secret = false;  // never logged, never echoed in an error
};

// Every librdkafka property the options stand for, first-class options
// first and then `rdkafka_properties` (which therefore win). Throws
// ConfigError for a malformed "key=value" entry or an inconsistent choice.
std::vector<Property> producer_properties(const Options& o);

}  // namespace sluice::kafka

namespace sluice::components {
const Descriptor& sink_kafka();
}  // namespace sluice::components
