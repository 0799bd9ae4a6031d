#include <gtest/gtest.h>

#include "sinks/kafka/kafka_format.hpp"

namespace sluice::kafka {
namespace {

// The Java client's test vectors (org.apache.kafka.common.utils.UtilsTest).
TEST(KafkaMurmur2, MatchesJavaClient) {
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("21")), -973932308);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("foobar")), -790332482);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("a-little-bit-long-string")), -985981536);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("a-little-bit-longer-string")), -1486304829);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")), -58897971);
    EXPECT_EQ(static_cast<std::int32_t>(murmur2("abc")), 479470107);
    EXPECT_EQ(murmur2_partition("foobar", 4), static_cast<std::int32_t>((0xd0e47bbeu & 0x7fffffffu) % 4));
    EXPECT_EQ(murmur2_partition("x", 0), -1);
}

}  // namespace
}  // namespace sluice::kafka
