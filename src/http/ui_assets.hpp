#pragma once
// The built-in web UI: its files (src/http/ui/ and Debian's Chart.js),
// gzipped at build time into a generated source (src/cmake/EmbedAssets.cmake),
// and the routes that serve them. See "Web UI" in docs/operations.md.

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "net/http_server.hpp"

namespace sluice::http {

class Api;

struct UiAsset {
    const char* name;          // "app.js"
    const char* content_type;  // "text/javascript; charset=utf-8"
    const unsigned char* gz;   // gzip member (gzip -9 -n)
    std::size_t gz_size;
    std::size_t size;  // uncompressed
    const char* etag;  // quoted, a hash of the compressed bytes
};

// Generated at build time.
std::span<const UiAsset> ui_assets();
std::size_t ui_assets_compressed_bytes();

const UiAsset* find_ui_asset(std::string_view name);

// Whether the request accepts `text/html` (a browser navigating).
bool accepts_html(const net::HttpRequest& req);

// One asset as an answer: gzip as stored when the client accepts it, else
// inflated with zlib; ETag with `Cache-Control: no-cache` (revalidate, 304
// on If-None-Match).
net::HttpResponse serve_ui_asset(const UiAsset& asset, const net::HttpRequest& req);

// GET /ui and /ui/<file> (/ui and /ui/ are the page itself).
void add_ui_routes(Api& api);

// Renders /stats-style JSON as an HTML page of nested tables (the stats
// pages without JavaScript). A parse error gives a page that says so.
std::string stats_json_to_html(std::string_view json, std::string_view title = "sluice stats");

}  // namespace sluice::http
