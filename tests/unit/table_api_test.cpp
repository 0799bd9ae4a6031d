#include <algorithm>
#include <tuple>
#include <vector>
// /api/table without a socket: paths, forms, bodies, JSON shapes, paging,
// 404s and the HTML pages. (The token is Api's job; the e2e test drives the
// whole thing with curl.)
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "tables/tables.hpp"
#include "http/table_api.hpp"

using namespace sluice;
using namespace sluice::http;

namespace {

net::HttpRequest request(std::string method, std::string target, std::string body = {},
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::HttpRequest r;
    r.method = std::move(method);
    r.target = target;
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) {
        r.query = target.substr(q + 1);
    }
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
}

struct Fixture {
    Tables tables;
    Fixture() {
        Tables::Spec pub{"cal", {}};
        pub.settings.is_public = true;
        Tables::Spec priv{"secret", {}};
        tables.configure({pub, priv});
        tables.find("cal")->put("n1/temp", *parse_table_value(R"({"scale":2,"offset":1})", nullptr));
        tables.find("cal")->put("n2/temp", *parse_table_value(R"({"site":"<b>roof</b>"})", nullptr));
        tables.find("secret")->put("k", {});
    }
    net::HttpResponse go(const net::HttpRequest& r) { return handle_table_request(tables, r); }
};

}  // namespace

TEST(TablePath, SegmentsArePercentDecodedOneByOne) {
    std::string error;
    auto p = parse_table_path("/api/table/cal/n1%2Ftemp/?page=2", &error);
    ASSERT_TRUE(p) << error;
    EXPECT_EQ(p->kind, TablePath::Kind::Key);
    EXPECT_EQ(p->table, "cal");
    EXPECT_EQ(p->key, "n1/temp");
    EXPECT_EQ(parse_table_path("/api/table", nullptr)->kind, TablePath::Kind::List);
    EXPECT_EQ(parse_table_path("/api/table/", nullptr)->kind, TablePath::Kind::List);
    EXPECT_EQ(parse_table_path("/api/table/cal", nullptr)->kind, TablePath::Kind::Table);
    EXPECT_EQ(parse_table_path("http://gw:6666/api/table/cal/k", nullptr)->key, "k");
    EXPECT_FALSE(parse_table_path("/api/table/cal/n1/temp/", &error));
    EXPECT_NE(error.find("%2F"), std::string::npos);
    EXPECT_FALSE(parse_table_path("/api/table/cal/%zz/", nullptr));
    EXPECT_FALSE(parse_table_path("/api/table//k", nullptr));
    EXPECT_FALSE(parse_table_path("/api/tables", nullptr));
}

TEST(TableForm, FieldsAndJson) {
    auto f = parse_form("scale=1.5&site=lab+2&empty=&flag", nullptr);
    ASSERT_TRUE(f);
    ASSERT_EQ(f->size(), 4u);
    EXPECT_EQ((*f)[1].second, "lab 2");
    EXPECT_FALSE(parse_form("a=%G0", nullptr));
    EXPECT_FALSE(parse_form("=x", nullptr));

    std::string error;
    auto v = value_from_body("application/x-www-form-urlencoded", "scale=1.5&offset=-2&site=lab&on=true", &error);
    ASSERT_TRUE(v) << error;
    EXPECT_EQ(table_value_json(*v), R"({"scale":1.5,"offset":-2,"site":"lab","on":true})");
    v = value_from_body("application/x-www-form-urlencoded", "value=%7B%22scale%22%3A2%7D", &error);
    ASSERT_TRUE(v) << error;
    EXPECT_EQ(table_value_json(*v), R"({"scale":2})");
    v = value_from_body("application/x-www-form-urlencoded", "value=42", &error);
    ASSERT_TRUE(v) << error;
    EXPECT_EQ(table_value_json(*v), R"({"value":42})");
    v = value_from_body("application/json; charset=utf-8", R"({"a":"b"})", &error);
    ASSERT_TRUE(v) << error;
    v = value_from_body("", R"( {"a":1})", &error);
    ASSERT_TRUE(v) << error;
    EXPECT_FALSE(value_from_body("text/plain", "a=1", &error));
    EXPECT_NE(error.find("unsupported Content-Type"), std::string::npos);
    EXPECT_FALSE(value_from_body("application/json", "[1]", &error));
    EXPECT_FALSE(value_from_body("", "", &error));
}

TEST(TableForm, MultipartFormData) {
    std::string error;
    const std::string body =
        "--XyZ\r\nContent-Disposition: form-data; name=\"scale\"\r\n\r\n1.5\r\n"
        "--XyZ\r\ncontent-disposition: form-data; name=\"site\"\r\nContent-Type: text/plain\r\n\r\nlab 2\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"note\"; filename=\"n.txt\"\r\n\r\na\r\nb--XyZ\r\n"
        "--XyZ--\r\n";
    auto parts = parse_multipart("multipart/form-data; boundary=XyZ", body, &error);
    ASSERT_TRUE(parts) << error;
    ASSERT_EQ(parts->size(), 3u);
    EXPECT_EQ((*parts)[0], (std::pair<std::string, std::string>{"scale", "1.5"}));
    EXPECT_EQ((*parts)[1].second, "lab 2");
    EXPECT_EQ((*parts)[2].second, "a\r\nb--XyZ");  // a boundary not after CRLF is content

    auto v = value_from_body("multipart/form-data; boundary=XyZ", body, &error);
    ASSERT_TRUE(v) << error;
    EXPECT_EQ(table_value_json(*v), R"({"scale":1.5,"site":"lab 2","note":"a\r\nb--XyZ"})");
    // A quoted boundary, a preamble, a lone `value` holding JSON.
    v = value_from_body("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"",
                        "preamble\r\n--a b\r\nContent-Disposition: form-data; name=value\r\n\r\n{\"x\":1}\r\n--a b--",
                        &error);
    ASSERT_TRUE(v) << error;
    EXPECT_EQ(table_value_json(*v), R"({"x":1})");

    for (const auto& [type, bad, why] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"multipart/form-data", "--B\r\n\r\nx\r\n--B--", "boundary of 1 to 70"},
             {"multipart/form-data; boundary=B", "no delimiter", "does not occur"},
             {"multipart/form-data; boundary=B", "--B\r\n\r\nx\r\n--B--", "without Content-Disposition"},
             {"multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx",
              "closing boundary is missing"},
             {"multipart/form-data; boundary=B", "--Bjunk", "not followed by CRLF"},
         }) {
        error.clear();
        EXPECT_FALSE(parse_multipart(type, bad, &error)) << bad;
        EXPECT_NE(error.find(why), std::string::npos) << error;
    }
    // Bounded: more than kMaxFormParts parts is refused (in linear time).
    std::string many;
    for (std::size_t i = 0; i <= kMaxFormParts; ++i) {
        many += "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n";
    }
    many += "--B--";
    EXPECT_FALSE(parse_multipart("multipart/form-data; boundary=B", many, &error));
    EXPECT_NE(error.find("more than"), std::string::npos) << error;
}

TEST(TableApi, ListsPublicTablesOnly) {
    Fixture f;
    auto r = f.go(request("GET", "/api/table/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.body, "{\"results\":[\"cal\"]}\n");
    EXPECT_EQ(f.go(request("GET", "/api/table/secret/")).status, 404);
    EXPECT_EQ(f.go(request("GET", "/api/table/secret/k/")).status, 404);
    EXPECT_EQ(f.go(request("PUT", "/api/table/secret/k/", "a=1")).status, 404);
    EXPECT_EQ(f.go(request("GET", "/api/table/nope/")).status, 404);
}

TEST(TableApi, PagesKeysInOrder) {
    Fixture f;
    for (int i = 0; i < 5; ++i) {
        f.tables.find("cal")->put(fmt::format("x{}", i), {});
    }
    auto r = f.go(request("GET", "/api/table/cal/?page=2&page_size=3"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body,
              "{\"table\":\"cal\",\"page\":2,\"page_size\":3,\"pages\":3,\"count\":7,"
              "\"next\":\"/api/table/cal/?page=3&page_size=3\",\"previous\":\"/api/table/cal/?page=1&page_size=3\","
              "\"results\":[{\"key\":\"x1\",\"value\":{}},{\"key\":\"x2\",\"value\":{}},{\"key\":\"x3\",\"value\":{}}]}\n");
    r = f.go(request("GET", "/api/table/cal/"));
    EXPECT_NE(r.body.find("\"page\":1,\"page_size\":100,\"pages\":1,\"count\":7,\"next\":null,\"previous\":null"),
              std::string::npos)
        << r.body;
    EXPECT_EQ(f.go(request("GET", "/api/table/cal/?page=0")).status, 400);
    EXPECT_EQ(f.go(request("GET", "/api/table/cal/?page_size=1001")).status, 400);
    EXPECT_EQ(f.go(request("GET", "/api/table/cal/?page=x")).status, 400);
    r = f.go(request("GET", "/api/table/cal/?page=9"));
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(r.body.find("\"results\":[]"), std::string::npos);
}

TEST(TableApi, GetPutDelete) {
    Fixture f;
    auto r = f.go(request("GET", "/api/table/cal/n1%2Ftemp/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "{\"scale\":2,\"offset\":1}\n");
    r = f.go(request("GET", "/api/table/cal/n9%2Ftemp"));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, "{\"error\":\"no key 'n9/temp' in table 'cal'\"}\n");

    r = f.go(request("PUT", "/api/table/cal/n9%2Ftemp/", "scale=0.5",
                     {{"Content-Type", "application/x-www-form-urlencoded"}}));
    EXPECT_EQ(r.status, 200);  // a new key: 200 too, with its Location
    EXPECT_TRUE(std::any_of(r.headers.begin(), r.headers.end(), [](const auto& h) { return h.first == "Location"; }));
    EXPECT_EQ(r.body, "{\"key\":\"n9/temp\",\"value\":{\"scale\":0.5}}\n");
    r = f.go(request("POST", "/api/table/cal/n9%2Ftemp/", R"({"scale":0.25})", {{"Content-Type", "application/json"}}));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(table_value_json(*f.tables.find("cal")->get("n9/temp")), R"({"scale":0.25})");
    EXPECT_EQ(f.go(request("PUT", "/api/table/cal/k/", "{\"a\":", {{"Content-Type", "application/json"}})).status, 400);

    r = f.go(request("DELETE", "/api/table/cal/n9%2Ftemp/"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "{\"key\":\"n9/temp\",\"deleted\":true}\n");
    EXPECT_EQ(f.go(request("DELETE", "/api/table/cal/n9%2Ftemp/")).status, 404);
    EXPECT_EQ(f.go(request("PUT", "/api/table/cal/", "a=1")).status, 405);
    EXPECT_EQ(f.go(request("DELETE", "/api/table/")).status, 405);
}

TEST(TableApi, FullTableIsAConflict) {
    Tables tables;
    Tables::Spec s{"small", {}};
    s.settings.is_public = true;
    s.settings.max_keys = 1;
    tables.configure({s});
    EXPECT_EQ(handle_table_request(tables, request("PUT", "/api/table/small/a/", "v=1")).status, 200);
    EXPECT_EQ(handle_table_request(tables, request("PUT", "/api/table/small/b/", "v=1")).status, 409);
}

TEST(TableApi, HtmlPagesEscapeAndLink) {
    Fixture f;
    const std::vector<std::pair<std::string, std::string>> html{{"Accept", "text/html,application/xhtml+xml"}};
    auto r = f.go(request("GET", "/api/table/", {}, html));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_NE(r.body.find("<a href=\"/api/table/cal/\">cal</a>"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("secret"), std::string::npos);
    EXPECT_EQ(r.body.find("http"), std::string::npos);  // no external assets

    r = f.go(request("GET", "/api/table/cal/?page_size=1", {}, html));
    EXPECT_NE(r.body.find("<a href=\"/api/table/cal/n1%2Ftemp/\">n1/temp</a>"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("page 1 of 2"), std::string::npos);
    EXPECT_NE(r.body.find("href=\"/api/table/cal/?page=2&amp;page_size=1\""), std::string::npos) << r.body;

    r = f.go(request("GET", "/api/table/cal/n2%2Ftemp/", {}, html));
    EXPECT_NE(r.body.find("&quot;&lt;b&gt;roof&lt;/b&gt;&quot;"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("<b>roof"), std::string::npos);

    r = f.go(request("GET", "/api/table/cal/%3Cscript%3E/", {}, html));
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body.find("<script>"), std::string::npos);
    EXPECT_NE(r.body.find("&lt;script&gt;"), std::string::npos);
}

TEST(TableApi, UrlSegmentAndEscape) {
    EXPECT_EQ(url_segment("n1/temp ä"), "n1%2Ftemp%20%C3%A4");
    EXPECT_EQ(html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
}
