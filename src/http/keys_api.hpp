#pragma once
// DELETE /api/keys/<subject>[?by=WHO]: forgets a data subject in every key
// store the running encrypt and decrypt stages use (core/key_stores.hpp):
// its data keys are deleted, so every value encrypted for it, wherever it
// went, can no longer be read. A write: the Api asks for the bearer token
// before this runs. The subject is one percent-encoded path segment; it is
// never logged (the logs show "/api/keys/..."), the answer and the audit
// trail name its pseudonym only. The forget commits on the API's writer
// thread, never on the I/O loop.

#include <optional>
#include <string>
#include <string_view>

#include "http/api.hpp"

namespace sluice::http {

inline constexpr std::string_view kKeysPrefix = "/api/keys";

// The subject named by a request target ("/api/keys/driver%2042?by=x"), or
// nullopt with the reason (for a 400).
std::optional<std::string> parse_keys_subject(std::string_view target, std::string* error);

void add_keys_routes(Api& api);

}  // namespace sluice::http
