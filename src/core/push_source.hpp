#pragma once
// A source fed by pushes through a PushEndpoints table: the `http` source
// (POST /api/send) and the `callback` source (an embedding program's
// pushes) are both this, on different tables. Each push is answered once
// all of its frames are committed to the buffer (or refused: busy, stopping).

#include <memory>
#include <string_view>
#include <vector>

#include "core/component.hpp"
#include "core/push_endpoints.hpp"

namespace sluice {

std::unique_ptr<Source> make_push_source(const Options& options, PushEndpoints& endpoints);

// The options both share: origin (default `default_origin`, a string that
// outlives the descriptor: a literal), max_waiting.
std::vector<OptionSpec> push_source_options(std::string_view default_origin);

}  // namespace sluice
