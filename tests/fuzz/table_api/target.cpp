// The /api/table request handling on arbitrary input: the first line is the
// request target (path, percent-encoded keys, query), the second the
// Content-Type, the rest the body (a JSON object or form fields). Each is
// parsed on its own and then served as GET, PUT and DELETE against a small
// in-memory table, in JSON and HTML. The target is also read as a
// DELETE /api/keys/<subject> target.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tables/tables.hpp"
#include "http/keys_api.hpp"
#include "http/table_api.hpp"

namespace {

sluice::Tables& tables() {
    static sluice::Tables t;  // memory only
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size > 64 * 1024) {
        return 0;
    }
    static bool configured = [] {
        sluice::Tables::Spec s{"t", {}};
        s.settings.is_public = true;
        s.settings.max_keys = 64;
        tables().configure({s});
        return true;
    }();
    (void)configured;

    const auto nl1 = text.find('\n');
    const std::string_view target = text.substr(0, nl1);
    const std::string_view rest = nl1 == std::string_view::npos ? std::string_view() : text.substr(nl1 + 1);
    const auto nl2 = rest.find('\n');
    const std::string_view content_type = rest.substr(0, nl2);
    const std::string_view body = nl2 == std::string_view::npos ? std::string_view() : rest.substr(nl2 + 1);

    std::string error;
    (void)sluice::http::parse_table_path(target, &error);
    if (auto subject = sluice::http::parse_keys_subject(target, &error)) {
        if (subject->empty() || subject->size() > 1024) {
            __builtin_trap();
        }
    }
    (void)sluice::http::parse_form(body, &error);
    (void)sluice::http::value_from_body(content_type, body, &error);
    (void)sluice::parse_table_value(body, &error);
    (void)sluice::http::html_escape(body);
    (void)sluice::http::url_segment(body);

    sluice::net::HttpRequest req;
    req.target = std::string(target);
    const auto q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) {
        req.query = std::string(target.substr(q + 1));
    }
    req.headers.emplace_back("Content-Type", std::string(content_type));
    req.body = std::string(body);
    for (const char* method : {"PUT", "GET", "DELETE", "POST"}) {
        req.method = method;
        (void)sluice::http::handle_table_request(tables(), req);
    }
    req.method = "GET";
    req.headers.emplace_back("Accept", "text/html");
    (void)sluice::http::handle_table_request(tables(), req);
    return 0;
}
