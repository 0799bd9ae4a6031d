#pragma once

#include "config/config.hpp"

namespace sluice {

// `sluice validate --healthcheck`: builds every sink, opens it and asks
// whether the far side is reachable. Prints one line per sink.
bool run_healthcheck(const GatewayConfig& config);

// `sluice validate` and a reload, before anything is torn down: builds
// every component as `run` would (a source's decoders and topology, stages
// without state or tables, sinks) without starting or opening any (sources
// themselves are not built: some bind their socket when built),
// so problems only a factory sees (a topology regex that does not compile,
// a predicate's syntax, options that exclude each other) are reported with
// the component's position. False if any.
bool check_build(const GatewayConfig& config, Diagnostics& diag);

}  // namespace sluice
