#pragma once
// The /stats routes on the gateway's API (see src/stats/README.md for the
// shapes). Handlers run on the I/O loop and read the hub's memory and the
// tables' memory only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {
class Tables;
}
namespace sluice::http {
class Api;
}

namespace sluice::stats {

class StatsHub;

// GET /stats/, /stats/topic/, /stats/topic/<t>/, /stats/task/<p>/<c>/,
// /stats/table/<t>/, /stats/history[?since=], and /stats/stream (one SSE
// event a second with the newest history point). A browser (Accept:
// text/html) gets the JSON pages as HTML tables. `tables` may be null. Both
// must outlive the routes (the Api). Returns the hub subscription that
// feeds /stats/stream and samples the tables' write rates: pass it to
// hub.unsubscribe() before `tables` goes.
[[nodiscard]] std::uint64_t add_stats_routes(http::Api& api, StatsHub& hub, Tables* tables);

// The path segments of a request target after "/stats", each
// percent-decoded (a topic may hold '/' as %2F), the query cut off; empty
// segments are skipped. nullopt: a malformed escape. Linear in the target,
// which the server bounds (fuzzed: tests/fuzz/stats_path).
std::optional<std::vector<std::string>> stats_path_segments(std::string_view target);

// `since=` of /stats/history: a finite number (Unix seconds); nullopt otherwise.
std::optional<double> parse_since(std::string_view text);

}  // namespace sluice::stats
