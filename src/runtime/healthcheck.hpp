#pragma once

#include "config/config.hpp"

namespace sluice {

// `sluice validate --healthcheck`: builds every sink, opens it and asks
// whether the far side is reachable. Prints one line per sink.
bool run_healthcheck(const GatewayConfig& config);

// `sluice validate`: builds every stage (no state, no tables), so problems
// only a factory sees (a predicate's syntax, options that exclude each
// other) are reported with the stage's position. False if any.
bool check_stages(const GatewayConfig& config, Diagnostics& diag);

}  // namespace sluice
