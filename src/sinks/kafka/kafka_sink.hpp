#pragma once
// The kafka sink's option → librdkafka property mapping, exposed for tests.

#include <string>
#include <utility>
#include <vector>

#include "core/component.hpp"
#include "net/kafka/kafka_client.hpp"

namespace sluice::kafka {

// Every librdkafka property the options stand for, first-class options
// first and then `rdkafka_properties` (which therefore win). Throws
// ConfigError for a malformed "key=value" entry or an inconsistent choice.
std::vector<Property> producer_properties(const Options& o);

}  // namespace sluice::kafka

namespace sluice::components {
const Descriptor& sink_kafka();
}  // namespace sluice::components
