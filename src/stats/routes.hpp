#pragma once
// The /stats routes on the gateway's API (see src/stats/README.md for the
// shapes). Handlers run on the I/O loop and read the hub's memory and the
// tables' memory only.

#include <cstdint>

namespace sluice {
class Tables;
}
namespace sluice::http {
class Api;
}

namespace sluice::stats {

class StatsHub;

// GET /stats/, /stats/topic/, /stats/topic/<t>/, /stats/task/<p>/<c>/,
// /stats/table/<t>/, /stats/history[?since=]. `tables` may be null. Both
// must outlive the routes (the Api). /stats/stream is left to the caller.
// Returns the hub subscription that samples the tables' write rates: pass it
// to hub.unsubscribe() before `tables` goes.
[[nodiscard]] std::uint64_t add_stats_routes(http::Api& api, StatsHub& hub, Tables* tables);

}  // namespace sluice::stats
