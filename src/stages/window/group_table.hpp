#pragma once
// The window stage's group table: group keys, their in-memory hash, and the
// open-addressing table from a key's hash to the group that holds it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

namespace sluice::window {

// A group key, kept inside the group when short (the common case) so a
// lookup compares it without another cache miss.
class GroupKey {
public:
    void assign(std::string_view k) {
        size_ = static_cast<std::uint32_t>(k.size());
        if (k.size() <= kInline) {
            heap_.reset();
            std::memcpy(buf_, k.data(), k.size());
        } else {
            heap_ = std::make_unique<char[]>(k.size());
            std::memcpy(heap_.get(), k.data(), k.size());
        }
    }
    std::string_view view() const { return {size_ <= kInline ? buf_ : heap_.get(), size_}; }
    void clear() {
        size_ = 0;
        heap_.reset();
    }

private:
    static constexpr std::size_t kInline = 40;
    std::uint32_t size_ = 0;
    char buf_[kInline] = {};
    std::unique_ptr<char[]> heap_;
};

// The group table's hash (in memory only: not stable across platforms).
inline std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

inline std::uint64_t hash_key(std::string_view s) {
    std::uint64_t h = 0x9e3779b97f4a7c15ull ^ s.size();
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, s.data() + i, 8);
        h = mix64(h ^ w);
    }
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, s.size() - i);
    return mix64(h ^ w ^ (static_cast<std::uint64_t>(s.size() - i) << 56));
}

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();

// Open addressing with linear probing over (hash, group id) slots. The keys
// stay in the groups: a lookup is handed a way to compare them. The table
// never fills beyond half its slots, so a probe always ends at an empty one.
class GroupTable {
public:
    bool empty() const { return slots_.empty(); }
    std::size_t size() const { return used_; }

    // The group stored under hash `h` whose key `same(gid)` accepts, or kNil.
    template <class Same>
    std::uint32_t find(std::uint64_t h, Same&& same) const {
        if (slots_.empty()) {
            return kNil;
        }
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            const Slot& s = slots_[i];
            if (s.gid == kNil) {
                return kNil;
            }
            if (s.hash == h && same(s.gid)) {
                return s.gid;
            }
        }
    }

    // The first group stored under hash `h`, keys not compared (kNil if none):
    // good enough to prefetch. Not for an empty table.
    std::uint32_t first_with_hash(std::uint64_t h) const {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t k = h & mask;; k = (k + 1) & mask) {
            const Slot& s = slots_[k];
            if (s.gid == kNil) {
                return kNil;
            }
            if (s.hash == h) {
                return s.gid;
            }
        }
    }

    // Prefetches the slot a lookup of `h` starts at. Not for an empty table.
    void prefetch(std::uint64_t h) const { __builtin_prefetch(&slots_[h & (slots_.size() - 1)]); }

    // `gid` must not be in the table yet.
    void insert(std::uint64_t h, std::uint32_t gid) {
        if ((used_ + 1) * 2 > slots_.size()) {
            std::vector<Slot> old(std::max<std::size_t>(64, slots_.size() * 2));
            old.swap(slots_);
            used_ = 0;
            for (const auto& s : old) {
                if (s.gid != kNil) {
                    place(s.hash, s.gid);
                }
            }
        }
        place(h, gid);
    }

    // `gid` must be in the table under `h`.
    void erase(std::uint64_t h, std::uint32_t gid) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = h & mask;
        while (slots_[i].gid != gid) {
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: later entries of the run move up so no
        // lookup stops early at the hole.
        for (std::size_t j = (i + 1) & mask; slots_[j].gid != kNil; j = (j + 1) & mask) {
            const std::size_t home = slots_[j].hash & mask;
            if (((j - home) & mask) >= ((j - i) & mask)) {
                slots_[i] = slots_[j];
                i = j;
            }
        }
        slots_[i] = Slot{};
        --used_;
    }

private:
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t gid = kNil;
    };

    void place(std::uint64_t h, std::uint32_t gid) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = h & mask;
        while (slots_[i].gid != kNil) {
            i = (i + 1) & mask;
        }
        slots_[i] = Slot{h, gid};
        ++used_;
    }

    std::vector<Slot> slots_;
    std::size_t used_ = 0;
};

}  // namespace sluice::window
