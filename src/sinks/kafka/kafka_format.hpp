#pragma once
// Kafka's murmur2 as the Java client computes it, kept apart from the sink
// so unit tests need neither a broker nor librdkafka. Payload forms are
// text/payload.hpp; topics and keys text/template.hpp.

#include <cstdint>
#include <string_view>

namespace sluice::kafka {

// Kafka's murmur2 as the Java client computes it (seed 0x9747b28c), and the
// partition it picks for a key: (murmur2(key) & 0x7fffffff) % partitions.
std::uint32_t murmur2(std::string_view key);
std::int32_t murmur2_partition(std::string_view key, std::int32_t partitions);

}  // namespace sluice::kafka
