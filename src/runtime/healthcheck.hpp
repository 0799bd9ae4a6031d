#pragma once

#include "config/config.hpp"

namespace sluice {

// `sluice validate --healthcheck`: builds every sink, opens it and asks
// whether the far side is reachable. Prints one line per sink.
bool run_healthcheck(const GatewayConfig& config);

}  // namespace sluice
