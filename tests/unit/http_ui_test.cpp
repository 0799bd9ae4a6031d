// The embedded web UI's files and how they are served; the stats HTML page.
#include <string>

#include <gtest/gtest.h>

#include "http/ui_assets.hpp"

namespace sluice::http {
namespace {

net::HttpRequest get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::HttpRequest r;
    r.method = "GET";
    r.target = path;
    r.path = std::move(path);
    r.headers = std::move(headers);
    return r;
}

const std::string* header(const net::HttpResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
        if (k == name) {
            return &v;
        }
    }
    return nullptr;
}

TEST(WebUi, AssetsAreEmbeddedWithinBudget) {
    for (const char* name : {"index.html", "app.js", "style.css", "chart.min.js"}) {
        const UiAsset* a = find_ui_asset(name);
        ASSERT_NE(a, nullptr) << name;
        EXPECT_GT(a->size, a->gz_size) << name;
        EXPECT_EQ(a->gz[0], 0x1f);
        EXPECT_EQ(a->gz[1], 0x8b);
    }
    EXPECT_EQ(find_ui_asset("nope.js"), nullptr);
    EXPECT_LE(ui_assets_compressed_bytes(), 150u * 1024u);  // the budget in docs/building.md
}

TEST(WebUi, GzipWhenAcceptedPlainOtherwiseAndEtag) {
    const UiAsset& a = *find_ui_asset("index.html");
    auto r = serve_ui_asset(a, get("/ui/", {{"Accept-Encoding", "br, gzip;q=0.8"}}));
    EXPECT_EQ(r.status, 200);
    ASSERT_NE(header(r, "Content-Encoding"), nullptr);
    EXPECT_EQ(r.body.size(), a.gz_size);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    ASSERT_NE(header(r, "ETag"), nullptr);
    const std::string etag = *header(r, "ETag");

    r = serve_ui_asset(a, get("/ui/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(header(r, "Content-Encoding"), nullptr);
    EXPECT_EQ(r.body.size(), a.size);
    EXPECT_NE(r.body.find("<script src=\"/ui/app.js\">"), std::string::npos);

    r = serve_ui_asset(a, get("/ui/", {{"Accept-Encoding", "gzip;q=0"}}));
    EXPECT_EQ(header(r, "Content-Encoding"), nullptr);

    r = serve_ui_asset(a, get("/ui/", {{"If-None-Match", etag}}));
    EXPECT_EQ(r.status, 304);
    EXPECT_TRUE(r.body.empty());
}

TEST(WebUi, NoExternalFetches) {
    for (const char* name : {"index.html", "app.js", "style.css"}) {
        const UiAsset& a = *find_ui_asset(name);
        auto body = serve_ui_asset(a, get("/")).body;
        // The SVG namespace is a name, not a fetch.
        for (auto at = body.find("http://www.w3.org/2000/svg"); at != std::string::npos;
             at = body.find("http://www.w3.org/2000/svg")) {
            body.erase(at, 26);
        }
        EXPECT_EQ(body.find("http://"), std::string::npos) << name;
        EXPECT_EQ(body.find("https://"), std::string::npos) << name;
    }
}

TEST(StatsHtml, NestedTablesEscaped) {
    const std::string html = stats_json_to_html(
        R"({"uptime_seconds":12.345,"events":{"total":7,"rate_1s":0.5},"pipelines":{"<p>":{"up":true}},)"
        R"("topics":[{"topic":"a/b","bytes":3},{"topic":"c","dead_letters":1}]})");
    EXPECT_NE(html.find("<th>uptime_seconds</th><td>12.35</td>"), std::string::npos) << html;
    EXPECT_NE(html.find("<th>total</th><td>7</td>"), std::string::npos) << html;
    EXPECT_NE(html.find("&lt;p&gt;"), std::string::npos);
    EXPECT_EQ(html.find("<p>:"), std::string::npos);
    EXPECT_NE(html.find("<th>topic</th><th>bytes</th><th>dead_letters</th>"), std::string::npos) << html;
    EXPECT_NE(html.find("<td>yes</td>"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);

    const std::string bad = stats_json_to_html("{\"a\":");
    EXPECT_NE(bad.find("could not be read"), std::string::npos);
}

}  // namespace
}  // namespace sluice::http
