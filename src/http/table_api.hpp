#pragma once
// /api/table: the gateway's public tables over HTTP, in the manner of Kafka
// Streams' queryable state and Faust's table views (shapes in
// docs/operations.md). JSON by default, plain HTML pages for
// `Accept: text/html`. Writes (PUT/POST/DELETE) need the API token, which
// Api checks before these handlers run.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tables/tables.hpp"
#include "http/api.hpp"
#include "net/http_server.hpp"

namespace sluice::http {

constexpr std::size_t kDefaultPageSize = 100;
constexpr std::size_t kMaxPageSize = 1000;

// Where a request under /api/table points. Keys and names are taken from the
// raw request target and percent-decoded per segment, so a key may contain
// '/' written as %2F.
struct TablePath {
    enum class Kind { List, Table, Key };
    Kind kind = Kind::List;
    std::string table;
    std::string key;
};
// nullopt: not a table path (404); `error` says why.
std::optional<TablePath> parse_table_path(std::string_view target, std::string* error);

// application/x-www-form-urlencoded: name=value pairs, '+' is a space.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_form(std::string_view body, std::string* error);

// multipart/form-data (RFC 7578) with the boundary from `content_type`: the
// name and content of each part (files are fields like any other). Bounded
// (at most kMaxFormParts parts, part headers at most 8 KiB) and linear in
// the body (each boundary search is over at most 70 bytes of boundary).
inline constexpr std::size_t kMaxFormParts = 1000;
std::optional<std::vector<std::pair<std::string, std::string>>> parse_multipart(std::string_view content_type,
                                                                                std::string_view body,
                                                                                std::string* error);

// The value a PUT/POST sets: a JSON object (Content-Type application/json,
// or a body starting with '{'), or form fields, urlencoded or multipart (each
// field a member, typed like CSV cells; a lone `value` field holding a JSON
// object is that object).
std::optional<TableValue> value_from_body(std::string_view content_type, std::string_view body, std::string* error);

std::string html_escape(std::string_view s);
// Percent-encodes everything but RFC 3986's unreserved characters.
std::string url_segment(std::string_view s);

// Serves one request (GET, HEAD, PUT, POST, DELETE) for a path under
// /api/table; the token is checked by Api before this runs.
net::HttpResponse handle_table_request(Tables& tables, const net::HttpRequest& req);

// Registers GET, PUT, POST and DELETE /api/table on `api`. `tables` must
// outlive the API. Writes run on the API's writer thread (Api::off_loop).
void add_table_routes(Api& api, Tables& tables);

}  // namespace sluice::http
