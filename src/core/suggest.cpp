// "Did you mean": optimal string alignment distance, case-insensitive.

#include "core/suggest.hpp"

#include <algorithm>
#include <vector>

#include "text/text.hpp"

namespace sluice {

namespace {

// Optimal string alignment distance (Levenshtein plus adjacent
// transpositions, the most common typo), case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    const std::size_t n = a.size();
    const std::size_t m = b.size();
    std::vector<std::size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (std::size_t j = 0; j <= m; ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= m; ++j) {
            const std::size_t cost = ascii_lower(a[i - 1]) == ascii_lower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && ascii_lower(a[i - 1]) == ascii_lower(b[j - 2]) && ascii_lower(a[i - 2]) == ascii_lower(b[j - 1])) {
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
            }
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

template <class S>
std::optional<std::string> closest(std::string_view word, std::span<const S> candidates) {
    if (word.empty() || word.size() > 256) {
        return std::nullopt;
    }
    // Roughly one typo per three characters, at least one, at most three.
    const std::size_t limit = std::clamp<std::size_t>((word.size() + 1) / 3, 1, 3);
    std::optional<std::string> best;
    std::size_t best_distance = limit + 1;
    for (const auto& c : candidates) {
        const std::string_view cand(c);
        if (cand.empty() || cand.size() > word.size() + limit || word.size() > cand.size() + limit) {
            continue;
        }
        const std::size_t d = edit_distance(word, cand);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(cand);
        }
    }
    return best;
}

}  // namespace

std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string> candidates) {
    return closest(word, candidates);
}

std::optional<std::string> did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
    return closest(word, candidates);
}

}  // namespace sluice
