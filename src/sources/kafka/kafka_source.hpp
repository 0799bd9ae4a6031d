#pragma once
// The kafka source's option → librdkafka property mapping, exposed for tests.

#include <vector>

#include "core/component.hpp"
#include "net/kafka/kafka_client.hpp"

namespace sluice::kafka {

// Every property of the consumer but group.id (which may need the
// pipeline's name): the connection's, the offset handling (automatic store
// off, automatic commit of what sluice stored), rdkafka_properties last.
// Throws ConfigError like client_properties.
std::vector<Property> consumer_properties(const Options& o);

}  // namespace sluice::kafka

namespace sluice::components {
const Descriptor& source_kafka();
}  // namespace sluice::components
