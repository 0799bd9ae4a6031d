#include "http/ui_assets.hpp"

#include <cstring>

#include <zlib.h>

#include "http/api.hpp"
#include "text/text.hpp"

namespace sluice::http {
namespace {

// Inflates one gzip member of known size (the build stored it).
std::optional<std::string> gunzip(const unsigned char* data, std::size_t size, std::size_t plain_size) {
    std::string out(plain_size, '\0');
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return std::nullopt;
    }
    zs.next_in = const_cast<Bytef*>(data);
    zs.avail_in = static_cast<uInt>(size);
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&zs, Z_FINISH);
    const bool ok = rc == Z_STREAM_END && zs.total_out == plain_size;
    inflateEnd(&zs);
    if (!ok) {
        return std::nullopt;
    }
    return out;
}

// "gzip" listed in Accept-Encoding, and not with q=0.
bool accepts_gzip(const net::HttpRequest& req) {
    const std::string* ae = req.header("accept-encoding");
    if (ae == nullptr) {
        return false;
    }
    std::string_view v = *ae;
    while (!v.empty()) {
        const auto comma = v.find(',');
        std::string_view item = v.substr(0, comma);
        v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
        const auto semi = item.find(';');
        std::string_view coding = item.substr(0, semi);
        while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
            coding.remove_prefix(1);
        }
        while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
            coding.remove_suffix(1);
        }
        if (!iequals(coding, "gzip") && coding != "*") {
            continue;
        }
        if (semi != std::string_view::npos) {
            std::string_view params = item.substr(semi + 1);
            const auto q = params.find("q=");
            if (q != std::string_view::npos) {
                std::string_view qv = params.substr(q + 2);
                // q=0, q=0.0, q=0.000: refused.
                bool zero = !qv.empty() && qv.front() == '0';
                for (std::size_t i = 1; zero && i < qv.size() && qv[i] != ' '; ++i) {
                    zero = qv[i] == '.' || qv[i] == '0';
                }
                if (zero) {
                    return false;
                }
            }
        }
        return true;
    }
    return false;
}

}  // namespace

const UiAsset* find_ui_asset(std::string_view name) {
    for (const auto& a : ui_assets()) {
        if (name == a.name) {
            return &a;
        }
    }
    return nullptr;
}

bool accepts_html(const net::HttpRequest& req) {
    const std::string* accept = req.header("accept");
    return accept != nullptr && accept->find("text/html") != std::string::npos;
}

net::HttpResponse serve_ui_asset(const UiAsset& asset, const net::HttpRequest& req) {
    net::HttpResponse r;
    r.status = 200;
    r.content_type = asset.content_type;
    r.headers.emplace_back("ETag", asset.etag);
    // Revalidate each time (cheap: a 304), so a new binary's UI is seen at once.
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.headers.emplace_back("Vary", "Accept-Encoding");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    const std::string* inm = req.header("if-none-match");
    if (inm != nullptr && inm->find(asset.etag) != std::string::npos) {
        r.status = 304;
        r.content_type.clear();
        return r;
    }
    if (accepts_gzip(req)) {
        r.headers.emplace_back("Content-Encoding", "gzip");
        r.body.assign(reinterpret_cast<const char*>(asset.gz), asset.gz_size);
        return r;
    }
    auto plain = gunzip(asset.gz, asset.gz_size, asset.size);
    if (!plain) {
        return net::HttpResponse{500, "text/plain; charset=utf-8", {}, "embedded asset is corrupt\n"};
    }
    r.body = std::move(*plain);
    return r;
}

void add_ui_routes(Api& api) {
    api.add_route("GET", "/ui", [](const net::HttpRequest& req) {
        std::string_view name = req.path;
        name.remove_prefix(3);  // "/ui"
        if (name.empty() || name == "/") {
            name = "/index.html";
        }
        name.remove_prefix(1);
        const UiAsset* a = find_ui_asset(name);
        if (a == nullptr) {
            return net::HttpResponse{404, "text/plain; charset=utf-8", {}, "not found\n"};
        }
        return serve_ui_asset(*a, req);
    });
}

}  // namespace sluice::http
