#pragma once
// The kafka sink's option → librdkafka property mapping, exposed for tests.

#include <chrono>
#include <optional>
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

// A transactional sink's settings (transactional_id set): the consumer
// group and partition holding its cursor, and what reads the cursor back.
struct Transactions {
    std::string id;            // transactional.id
    std::string group;         // "sluice-cursor.<id>"
    std::string cursor_topic;  // its partition 0 holds the cursor
    std::chrono::nanoseconds timeout;
    std::vector<Property> reader_props;  // a consumer of `group`, read_committed
};
// Unset without a transactional_id. Throws ConfigError for a choice
// transactions cannot work with.
std::optional<Transactions> transactions(const Options& o);

}  // namespace sluice::kafka

namespace sluice::components {
const Descriptor& sink_kafka();
}  // namespace sluice::components
