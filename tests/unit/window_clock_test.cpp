// Clock safety: a gateway without an RTC boots in 1970 and its clock later
// jumps to now; record times can also jump back. The window stage must not
// crash, hang or emit windows outside what its README documents.

#include <set>

#include "window_test_util.hpp"

namespace sluice::testing {
namespace {

constexpr std::int64_t kBoot1970 = 5 * kSec;  // 1970-01-01T00:00:05Z

Record reading(std::int64_t t, double v, const char* node = "a") {
    return rec(t, {Tag{"node", node}}, {Field{"v", v}});
}

std::int64_t field_int(const Record& r, const char* name) { return std::get<std::int64_t>(r.field(name)->value); }

TEST(WindowClock, RecordsFrom1970AreRefusedThenTheJumpToNowWorks) {
    WindowHarness h({{"size", "1m"}, {"group_by", "node"}, {"fields", "v"}, {"aggregates", "sum"}});
    h.wall = kBoot1970;  // the gateway's own clock is not set either
    std::vector<Record> early;
    for (int i = 0; i < 600; ++i) {
        early.push_back(reading(kBoot1970 + i * kSec, 1));
    }
    EXPECT_TRUE(h.feed(std::move(early)).empty());
    EXPECT_EQ(h.dead.size(), 600u);
    EXPECT_NE(h.dead[0].reason.find("is before min_valid_time 2020-01-01T00:00:00Z"), std::string::npos)
        << h.dead[0].reason;
    // NTP sets the clock; records are stamped with the real time now.
    h.wall = kT0 + 3600 * kSec;
    std::vector<Record> out;
    for (int i = 0; i < 300; ++i) {
        for (auto& r : h.feed({reading(kT0 + i * kSec, 2)})) {
            out.push_back(std::move(r));
        }
    }
    ASSERT_EQ(out.size(), 4u);  // minutes 0..3 closed; minute 4 is still open
    for (std::size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(field_int(out[i], "window_start"), kT0 + static_cast<std::int64_t>(i) * 60 * kSec);
        EXPECT_EQ(std::get<double>(out[i].field("v_sum")->value), 120.0);
    }
    // Record times step back by an hour: late, never a second copy of a window.
    const std::size_t dead_before = h.dead.size();
    for (int i = 0; i < 120; ++i) {
        EXPECT_TRUE(h.feed({reading(kT0 - 3600 * kSec + 300 * kSec + i * kSec, 3)}).empty());
    }
    EXPECT_EQ(h.dead.size() - dead_before, 120u);
    EXPECT_NE(h.dead.back().reason.find("late record"), std::string::npos);
    // And forward again: the open minute 4 closes normally.
    auto more = h.feed({reading(kT0 + 360 * kSec, 4)});
    ASSERT_EQ(more.size(), 1u);
    EXPECT_EQ(field_int(more[0], "window_start"), kT0 + 240 * kSec);
    EXPECT_EQ(std::get<double>(more[0].field("v_sum")->value), 120.0);
}

TEST(WindowClock, WithoutMinValidTimeTheJumpClosesThe1970WindowsOnceAndQuickly) {
    WindowHarness h({{"size", "10s"}, {"min_valid_time", "off"}, {"fields", "v"}, {"aggregates", "count"}});
    h.wall = kBoot1970;
    std::vector<Record> early;
    for (int i = 0; i < 100; ++i) {
        early.push_back(reading(kBoot1970 + i * kSec, 1));
    }
    auto out = h.feed(std::move(early));
    EXPECT_EQ(out.size(), 10u);  // [0,10) .. [90,100) closed, [100,110) open
    // The clock jumps by 54 years: only the one open 1970 window closes (no
    // walk over the 170 million empty windows in between).
    h.wall = kT0;
    out = h.feed({reading(kT0 + 5 * kSec, 2)});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(field_int(out[0], "window_start"), 100 * kSec);
    EXPECT_EQ(field_int(out[0], "v_count"), 5);
    out = h.feed({reading(kT0 + 10 * kSec, 2)});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(field_int(out[0], "window_start"), kT0);
}

TEST(WindowClock, FarFutureRecordsAreRefusedWhileTheClockIsSet) {
    WindowHarness h({{"size", "1m"}, {"max_future", "10m"}});
    h.wall = kT0;
    h.feed({reading(kT0, 1)});
    // A sensor with a broken clock: 2 days ahead. It must not close the
    // minute everybody else is still in.
    EXPECT_TRUE(h.feed({reading(kT0 + 2 * 86400 * kSec, 1)}).empty());
    ASSERT_EQ(h.dead.size(), 1u);
    EXPECT_NE(h.dead[0].reason.find("ahead of the gateway clock"), std::string::npos) << h.dead[0].reason;
    EXPECT_TRUE(h.feed({reading(kT0 + 30 * kSec, 1)}).empty());  // still accepted: the window is open
    EXPECT_EQ(h.dead.size(), 1u);
    // While the gateway clock is not set, the bound cannot be applied.
    WindowHarness unset({{"size", "1m"}, {"max_future", "10m"}});
    unset.wall = kBoot1970;
    unset.feed({reading(kT0, 1)});
    EXPECT_TRUE(unset.dead.empty());
}

TEST(WindowClock, ProcessingTimeJumpsForwardOnceWhenTheClockIsSet) {
    WindowHarness h({{"size", "10s"}, {"time", "processing"}, {"fields", "v"}, {"aggregates", "count"}});
    h.wall = kBoot1970;
    h.feed({reading(0, 1), reading(0, 1)});
    h.mono += 4 * kSec;
    h.wall += 4 * kSec;
    EXPECT_TRUE(h.feed({reading(0, 1)}).empty());
    // NTP: the wall clock jumps to 2024. The open 1970 window closes once,
    // and processing time continues from now.
    h.wall = kT0 + 2 * kSec;
    h.mono += 1 * kSec;
    auto out = h.feed({reading(0, 1)});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(field_int(out[0], "window_start"), 0);
    EXPECT_EQ(field_int(out[0], "v_count"), 3);
    // The wall clock is stepped back by an hour later: processing time keeps
    // going with the monotonic clock.
    h.wall -= 3600 * kSec;
    h.mono += 8 * kSec;
    out = h.tick();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(field_int(out[0], "window_start"), kT0);
    EXPECT_EQ(field_int(out[0], "v_count"), 1);
}

TEST(WindowClock, SessionsAcrossAJumpBack) {
    WindowHarness h({{"kind", "session"}, {"gap", "30s"}, {"group_by", "node"}});
    std::set<std::string> ids;
    std::size_t emitted = 0;
    auto collect = [&](const std::vector<Record>& out) {
        for (const auto& r : out) {
            ids.insert(std::get<std::string>(r.field("window_id")->value));
            ++emitted;
        }
    };
    for (int i = 0; i < 100; ++i) {
        collect(h.feed({reading(kT0 + i * 10 * kSec, 1)}));
    }
    for (int i = 0; i < 10; ++i) {
        collect(h.feed({reading(kT0 - 3600 * kSec + i * kSec, 1)}));  // an hour back: late
    }
    collect(h.feed({reading(kT0 + 2000 * kSec, 1)}));
    EXPECT_EQ(emitted, 1u);  // the one session of the first 1000 s
    EXPECT_EQ(ids.size(), emitted);
    EXPECT_EQ(h.dead.size(), 10u);
}

}  // namespace
}  // namespace sluice::testing
