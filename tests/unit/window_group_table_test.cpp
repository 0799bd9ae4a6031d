// The window stage's group table (group_table.hpp) on its own: lookups
// through probe runs that collide and wrap around, backward-shift deletion,
// growth, and a long random mix checked against std::map.

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "stages/window/group_table.hpp"

namespace sluice::window {
namespace {

std::string name(std::string_view prefix, std::uint64_t n) { return fmt::format("{}{}", prefix, n); }

// Groups as the stage keeps them: the table holds ids, the keys live here.
struct Groups {
    GroupTable table;
    std::vector<std::string> keys;

    std::uint32_t add(std::string key, std::uint64_t h) {
        const auto gid = static_cast<std::uint32_t>(keys.size());
        keys.push_back(std::move(key));
        table.insert(h, gid);
        return gid;
    }
    std::uint32_t find(const std::string& key, std::uint64_t h) const {
        return table.find(h, [&](std::uint32_t gid) { return keys[gid] == key; });
    }
};

TEST(WindowGroupTable, EmptyFindsNothing) {
    const GroupTable t;
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.find(42, [](std::uint32_t) { return true; }), kNil);
}

TEST(WindowGroupTable, EqualHashesAreToldApartByTheirKeys) {
    Groups g;
    // 64 slots at first: every hash below starts its probe at slot 5.
    const std::uint32_t a = g.add("a", 5);
    const std::uint32_t b = g.add("b", 5);
    const std::uint32_t c = g.add("c", 5 + 64);
    EXPECT_EQ(g.find("a", 5), a);
    EXPECT_EQ(g.find("b", 5), b);
    EXPECT_EQ(g.find("c", 5 + 64), c);
    EXPECT_EQ(g.find("c", 5), kNil);  // same slot run, other hash
    EXPECT_EQ(g.find("d", 5), kNil);
    EXPECT_EQ(g.table.first_with_hash(5), a);
    EXPECT_EQ(g.table.first_with_hash(6), kNil);
    EXPECT_EQ(g.table.size(), 3u);
}

TEST(WindowGroupTable, ErasingInsideARunThatWrapsAroundKeepsTheRestFindable) {
    // Homes 62 and 63 of 64 slots: the run wraps to slots 0, 1, 2.
    const std::vector<std::uint64_t> hashes = {62, 63, 62 + 64, 63 + 64, 62 + 128};
    for (std::size_t erased = 0; erased < hashes.size(); ++erased) {
        Groups h;
        for (std::size_t i = 0; i < hashes.size(); ++i) {
            h.add(name("k", i), hashes[i]);
        }
        h.table.erase(hashes[erased], static_cast<std::uint32_t>(erased));
        EXPECT_EQ(h.table.size(), hashes.size() - 1);
        for (std::size_t i = 0; i < hashes.size(); ++i) {
            const std::uint32_t want = i == erased ? kNil : static_cast<std::uint32_t>(i);
            EXPECT_EQ(h.find(name("k", i), hashes[i]), want) << "erased " << erased << ", looked up " << i;
        }
    }
}

TEST(WindowGroupTable, GrowsAndKeepsEveryGroup) {
    Groups g;
    for (std::uint32_t i = 0; i < 5000; ++i) {
        const std::string key = name("group-", i);
        g.add(key, hash_key(key));
    }
    EXPECT_EQ(g.table.size(), 5000u);
    for (std::uint32_t i = 0; i < 5000; ++i) {
        const std::string key = name("group-", i);
        ASSERT_EQ(g.find(key, hash_key(key)), i);
    }
    EXPECT_EQ(g.find("group-5000", hash_key("group-5000")), kNil);
}

TEST(WindowGroupTable, RandomInsertsAndErasesAgreeWithAMap) {
    // Few distinct hashes, so runs are long and collide all the time.
    std::mt19937_64 rng(12);
    Groups g;
    std::map<std::string, std::uint32_t> model;
    std::vector<std::uint64_t> hash_of;
    auto hash_for = [](std::uint64_t n) { return (n % 7) * 64 + (n % 3); };
    for (int step = 0; step < 20000; ++step) {
        const std::uint64_t n = rng() % 300;
        const std::string key = name("k", n);
        const std::uint64_t h = hash_for(n);
        const auto it = model.find(key);
        if (it == model.end()) {
            model[key] = g.add(key, h);
        } else if (rng() % 2 == 0) {
            g.table.erase(h, it->second);
            model.erase(it);
        }
        if (step % 97 == 0) {
            for (std::uint64_t m = 0; m < 300; ++m) {
                const std::string k = name("k", m);
                const auto found = model.find(k);
                ASSERT_EQ(g.find(k, hash_for(m)), found == model.end() ? kNil : found->second) << "step " << step;
            }
            ASSERT_EQ(g.table.size(), model.size());
        }
    }
}

TEST(WindowGroupTable, KeysInlineAndOnTheHeap) {
    for (std::size_t len : {0, 1, 39, 40, 41, 200}) {
        const std::string text(len, 'x');
        GroupKey k;
        k.assign(text);
        EXPECT_EQ(k.view(), text);
        k.assign("short");
        EXPECT_EQ(k.view(), "short");
        k.clear();
        EXPECT_EQ(k.view(), "");
    }
    EXPECT_EQ(hash_key("node-1"), hash_key(std::string("node-1")));
    EXPECT_NE(hash_key("node-1"), hash_key("node-2"));
    EXPECT_NE(hash_key(std::string_view("\0", 1)), hash_key(""));
}

}  // namespace
}  // namespace sluice::window
