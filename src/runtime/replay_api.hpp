#pragma once
// Replay from the buffer, the part the CLI and the API share: reading a
// point ("12345", "2026-12-07T10:00:00Z", "-2h") and
// POST /api/buffer/replay?pipeline=P&sink=S&from=POINT on a running gateway.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "buffer/buffer.hpp"

namespace sluice {

namespace http {
class Api;
}
class GatewayLifecycle;

// A record id (digits), a time in ISO 8601 / RFC 3339 (no offset: UTC), or
// a duration before now with a leading '-' ("-30m"). Nullopt with the
// reason otherwise.
std::optional<BufferPoint> parse_buffer_point(std::string_view text, std::string* error);

// The answer of a replay as JSON: {"pipeline","sink","from_id","from_time","records","note"} or {"error"}.
std::string replay_json(const std::string& pipeline, const std::string& sink, const ReplayOutcome& o);

// POST /api/buffer/replay: a write (the Api asks for the token). Resolves
// and checks the point off the loop, on the API's writer thread, and
// answers once the sink's runner moved its cursor back (it logs and counts
// the replay: sluice_sink_replays_total).
void add_replay_route(http::Api& api, GatewayLifecycle& life, const std::filesystem::path& data_dir);

}  // namespace sluice
