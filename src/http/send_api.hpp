#pragma once
// POST /api/send[/<pipeline>[/<source id>]][?key=K]: frames for a
// pipeline's `http` source (src/sources/http). The body is one frame, or one
// frame per line with Content-Type application/x-ndjson. Answers 200 once
// every frame is committed to the buffer; 404 when no `http` source matches;
// 503 with Retry-After when too many requests already wait for a commit.
// Writes: the Api asks for the bearer token before this runs.

#include "http/api.hpp"

namespace sluice::http {

inline constexpr std::string_view kSendPrefix = "/api/send";

void add_send_routes(Api& api);

}  // namespace sluice::http
