#pragma once
// The window stage's group keys and their in-memory hash: what its
// open-addressing group table is built on.

#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>

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

}  // namespace sluice::window
