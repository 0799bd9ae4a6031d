#pragma once
// Reading a live buffer's dead letters for the HTTP API (the web UI).

#include <cstddef>
#include <filesystem>
#include <string>

namespace sluice {

// The latest `limit` dead letters of a buffer in use, newest first, as JSON
// for the web UI: {"total":N,"dead_letters":[{"time":unix,"origin":..,
// "stage":..,"reason":..,"payload":..|"payload_base64":..}]}. Reads through
// its own read-only connection (WAL: a consistent snapshot that never
// blocks the writer), so call it off the I/O loop. Throws std::runtime_error.
std::string latest_dead_letters_json(const std::filesystem::path& db, std::size_t limit);

}  // namespace sluice
