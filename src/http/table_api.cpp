#include "http/table_api.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <iterator>

#include <fmt/format.h>

#include "core/log.hpp"
#include "core/record_json.hpp"
#include "net/http_parser.hpp"
#include "text/text.hpp"

namespace sluice::http {
namespace {

constexpr std::string_view kPrefix = "/api/table";
constexpr const char* kJson = "application/json";
constexpr const char* kHtml = "text/html; charset=utf-8";

net::HttpResponse no_store(net::HttpResponse r) {
    // Tables change all the time; a cached copy would mislead.
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

std::string json_error(std::string_view message) {
    std::string out = "{\"error\":";
    append_json_string(out, message);
    out += "}\n";
    return out;
}

bool wants_html(const net::HttpRequest& req) {
    const std::string* accept = req.header("accept");
    return accept != nullptr && accept->find("text/html") != std::string::npos;
}

// The page layout: no external assets, a few lines of CSS.
std::string html_page(std::string_view title, std::string_view body) {
    std::string out;
    out.reserve(body.size() + 600);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
    out += html_escape(title);
    out += "</title><style>"
           "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
           "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;"
           "vertical-align:top}th{background:#f2f2f2}code{font-family:ui-monospace,monospace;white-space:pre-wrap;"
           "word-break:break-all}nav a{margin-right:1em}"
           "</style></head><body>\n";
    out += body;
    out += "\n</body></html>\n";
    return out;
}

net::HttpResponse error_response(const net::HttpRequest& req, int status, std::string_view message) {
    if (wants_html(req)) {
        std::string body = fmt::format("<h1>{} {}</h1>\n<p>{}</p>\n<p><a href=\"{}/\">all tables</a></p>", status,
                                       html_escape(net::reason_phrase(status)), html_escape(message), kPrefix);
        return no_store(net::HttpResponse{status, kHtml, {}, html_page(fmt::format("{}", status), body)});
    }
    return no_store(net::HttpResponse{status, kJson, {}, json_error(message)});
}

std::string table_url(std::string_view table) { return fmt::format("{}/{}/", kPrefix, url_segment(table)); }

std::string key_url(std::string_view table, std::string_view key) {
    return fmt::format("{}/{}/{}/", kPrefix, url_segment(table), url_segment(key));
}

std::string page_url(std::string_view table, std::size_t page, std::size_t page_size) {
    return fmt::format("{}?page={}&page_size={}", table_url(table), page, page_size);
}

std::optional<std::size_t> number_param(const net::HttpRequest& req, std::string_view name, std::size_t fallback,
                                        std::size_t min, std::size_t max, std::string* error) {
    const auto v = req.query_param(name);
    if (!v || v->empty()) {
        return fallback;
    }
    std::size_t n = 0;
    const auto res = std::from_chars(v->data(), v->data() + v->size(), n);
    if (res.ec != std::errc() || res.ptr != v->data() + v->size() || n < min || n > max) {
        *error = fmt::format("'{}' must be a whole number from {} to {}", name, min, max);
        return std::nullopt;
    }
    return n;
}

net::HttpResponse read_only(net::HttpResponse r) {
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
}

// ------------------------------------------------------------------ GET

net::HttpResponse list_tables(Tables& tables, const net::HttpRequest& req) {
    const auto names = tables.names(true);
    if (wants_html(req)) {
        std::string body = "<h1>Tables</h1>\n";
        if (names.empty()) {
            body += "<p>No public tables.</p>";
        } else {
            body += "<table><tr><th>table</th><th>keys</th></tr>\n";
            for (const auto& n : names) {
                const Table* t = tables.find(n);
                body += fmt::format("<tr><td><a href=\"{}\">{}</a></td><td>{}</td></tr>\n", html_escape(table_url(n)),
                                    html_escape(n), t != nullptr ? t->size() : 0);
            }
            body += "</table>";
        }
        return no_store(net::HttpResponse{200, kHtml, {}, html_page("Tables", body)});
    }
    std::string out = "{\"results\":[";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i != 0) {
            out += ',';
        }
        append_json_string(out, names[i]);
    }
    out += "]}\n";
    return no_store(net::HttpResponse{200, kJson, {}, std::move(out)});
}

net::HttpResponse table_page(const Table& table, const net::HttpRequest& req) {
    std::string error;
    const auto page = number_param(req, "page", 1, 1, std::numeric_limits<std::uint32_t>::max(), &error);
    const auto page_size = page ? number_param(req, "page_size", kDefaultPageSize, 1, kMaxPageSize, &error)
                                : std::nullopt;
    if (!page || !page_size) {
        return error_response(req, 400, error);
    }
    const auto p = table.page(*page, *page_size);
    const std::size_t pages = std::max<std::size_t>(1, (p.total + *page_size - 1) / *page_size);
    const std::string& name = table.name();
    if (wants_html(req)) {
        std::string body = fmt::format("<nav><a href=\"{}/\">all tables</a></nav>\n<h1>{}</h1>\n<p>{} key{}, page {} "
                                       "of {}</p>\n",
                                       kPrefix, html_escape(name), p.total, p.total == 1 ? "" : "s", *page, pages);
        // One column per member name seen on this page, in first-seen order.
        std::vector<std::string_view> columns;
        for (const auto& item : p.items) {
            for (const auto& m : item.second) {
                if (std::find(columns.begin(), columns.end(), std::string_view(m.name)) == columns.end()) {
                    columns.emplace_back(m.name);
                }
            }
        }
        body += "<table><tr><th>key</th>";
        for (const auto c : columns) {
            body += fmt::format("<th>{}</th>", html_escape(c));
        }
        body += "</tr>\n";
        std::string cell;
        for (const auto& [k, v] : p.items) {
            body += fmt::format("<tr><td><a href=\"{}\">{}</a></td>", html_escape(key_url(name, k)), html_escape(k));
            for (const auto c : columns) {
                cell.clear();
                const auto m = std::find_if(v.begin(), v.end(), [c](const Field& f) { return f.name == c; });
                if (m != v.end()) {
                    if (const auto* str = std::get_if<std::string>(&m->value)) {
                        cell = *str;  // text as it is, not as a JSON string
                    } else {
                        append_field_value_json(cell, m->value, JsonDouble::KeepFraction);
                    }
                }
                body += fmt::format("<td>{}</td>", html_escape(cell));
            }
            body += "</tr>\n";
        }
        body += "</table>\n<nav>";
        if (*page > 1) {
            body += fmt::format("<a href=\"{}\">&laquo; first</a>", html_escape(page_url(name, 1, *page_size)));
            body += fmt::format("<a href=\"{}\">&lsaquo; previous</a>",
                                html_escape(page_url(name, std::min(*page - 1, pages), *page_size)));
        }
        if (*page < pages) {
            body += fmt::format("<a href=\"{}\">next &rsaquo;</a>", html_escape(page_url(name, *page + 1, *page_size)));
            body += fmt::format("<a href=\"{}\">last &raquo;</a>", html_escape(page_url(name, pages, *page_size)));
        }
        body += "</nav>";
        return no_store(net::HttpResponse{200, kHtml, {}, html_page(name, body)});
    }
    std::string out = "{\"table\":";
    append_json_string(out, name);
    out += fmt::format(",\"page\":{},\"page_size\":{},\"pages\":{},\"count\":{},\"next\":", *page, *page_size, pages,
                       p.total);
    if (*page < pages) {
        append_json_string(out, page_url(name, *page + 1, *page_size));
    } else {
        out += "null";
    }
    out += ",\"previous\":";
    if (*page > 1) {
        append_json_string(out, page_url(name, std::min(*page - 1, pages), *page_size));
    } else {
        out += "null";
    }
    out += ",\"results\":[";
    bool comma = false;
    for (const auto& [k, v] : p.items) {
        if (comma) {
            out += ',';
        }
        comma = true;
        out += "{\"key\":";
        append_json_string(out, k);
        out += ",\"value\":";
        append_table_value_json(out, v);
        out += '}';
    }
    out += "]}\n";
    return no_store(net::HttpResponse{200, kJson, {}, std::move(out)});
}

net::HttpResponse key_value(const Table& table, const std::string& key, const net::HttpRequest& req) {
    auto v = table.get(key);
    if (!v) {
        return error_response(req, 404, fmt::format("no key '{}' in table '{}'", key, table.name()));
    }
    std::string json;
    append_table_value_json(json, *v);
    if (wants_html(req)) {
        std::string body = fmt::format("<nav><a href=\"{}/\">all tables</a><a href=\"{}\">{}</a></nav>\n<h1>{}</h1>\n",
                                       kPrefix, html_escape(table_url(table.name())), html_escape(table.name()),
                                       html_escape(key));
        body += "<table><tr><th>member</th><th>value</th></tr>\n";
        for (const auto& m : *v) {
            std::string one;
            append_field_value_json(one, m.value, JsonDouble::KeepFraction);  // as in the value's JSON
            body += fmt::format("<tr><td>{}</td><td><code>{}</code></td></tr>\n", html_escape(m.name),
                                html_escape(one));
        }
        body += "</table>";
        return no_store(net::HttpResponse{200, kHtml, {}, html_page(key, body)});
    }
    json += '\n';
    return no_store(net::HttpResponse{200, kJson, {}, std::move(json)});
}

// ------------------------------------------------------------------ writes

net::HttpResponse put_value(Table& table, const std::string& key, const net::HttpRequest& req) {
    std::string error;
    if (table.refuses_writes(&error)) {
        return error_response(req, 409, error);
    }
    const std::string* ct = req.header("content-type");
    auto value = value_from_body(ct != nullptr ? *ct : std::string_view(), req.body, &error);
    if (!value) {
        return error_response(req, 400, error);
    }
    const auto r = table.put(key, *value, &error);
    switch (r) {
        case Table::Put::Full:
            return error_response(req, 409, error);
        case Table::Put::Failed:
            log::error("table '{}': writing key '{}' failed: {}", table.name(), key, error);
            return error_response(req, 500, "the table could not be written; see the gateway's log");
        default:
            break;
    }
    std::string out = "{\"key\":";
    append_json_string(out, key);
    out += ",\"value\":";
    append_table_value_json(out, *value);
    out += "}\n";
    // 200 for a new key too, as the table API's users expect (the seed's
    // Faust API); a new key also says where it lives.
    auto resp = net::HttpResponse{200, kJson, {}, std::move(out)};
    if (r == Table::Put::Created) {
        resp.headers.emplace_back("Location", key_url(table.name(), key));
    }
    return no_store(std::move(resp));
}

net::HttpResponse delete_key(Table& table, const std::string& key, const net::HttpRequest& req) {
    if (std::string why; table.refuses_writes(&why)) {
        return error_response(req, 409, why);
    }
    try {
        if (!table.erase(key)) {
            return error_response(req, 404, fmt::format("no key '{}' in table '{}'", key, table.name()));
        }
    } catch (const std::exception& e) {
        log::error("table '{}': removing key '{}' failed: {}", table.name(), key, e.what());
        return error_response(req, 500, "the table could not be written; see the gateway's log");
    }
    std::string out = "{\"key\":";
    append_json_string(out, key);
    out += ",\"deleted\":true}\n";
    return no_store(net::HttpResponse{200, kJson, {}, std::move(out)});
}

}  // namespace

// ------------------------------------------------------------------ parsing

std::optional<TablePath> parse_table_path(std::string_view target, std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    // Absolute-form targets (from proxies): drop the scheme and host.
    if (!target.starts_with('/')) {
        const auto scheme = target.find("://");
        if (scheme == std::string_view::npos) {
            err = "the request target must start with '/'";
            return std::nullopt;
        }
        const auto path = target.find('/', scheme + 3);
        target = path == std::string_view::npos ? std::string_view("/") : target.substr(path);
    }
    target = target.substr(0, target.find('?'));
    if (!target.starts_with(kPrefix)) {
        err = "not under /api/table";
        return std::nullopt;
    }
    std::string_view rest = target.substr(kPrefix.size());
    if (!rest.empty() && rest.front() != '/') {
        err = "not under /api/table";
        return std::nullopt;
    }
    std::vector<std::string> segments;
    while (!rest.empty()) {
        rest.remove_prefix(1);  // the '/'
        const auto slash = rest.find('/');
        const std::string_view raw = rest.substr(0, slash);
        auto decoded = percent_decode(raw, false);
        if (!decoded) {
            err = "malformed percent-encoding in the path";
            return std::nullopt;
        }
        if (slash == std::string_view::npos && raw.empty()) {
            break;  // a trailing '/'
        }
        if (decoded->empty()) {
            err = "empty table name or key in the path";
            return std::nullopt;
        }
        segments.push_back(std::move(*decoded));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    TablePath p;
    switch (segments.size()) {
        case 0:
            p.kind = TablePath::Kind::List;
            return p;
        case 1:
            p.kind = TablePath::Kind::Table;
            p.table = std::move(segments[0]);
            return p;
        case 2:
            p.kind = TablePath::Kind::Key;
            p.table = std::move(segments[0]);
            p.key = std::move(segments[1]);
            return p;
        default:
            err = "too many path segments: a key containing '/' must be written %2F";
            return std::nullopt;
    }
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_form(std::string_view body,
                                                                             std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    std::vector<std::pair<std::string, std::string>> out;
    while (!body.empty()) {
        const auto amp = body.find('&');
        const std::string_view pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        const auto eq = pair.find('=');
        auto k = percent_decode(pair.substr(0, eq), true);
        auto v = eq == std::string_view::npos ? std::optional<std::string>(std::string())
                                              : percent_decode(pair.substr(eq + 1), true);
        if (!k || !v) {
            err = "malformed percent-encoding in the form";
            return std::nullopt;
        }
        if (k->empty()) {
            err = "a form field without a name";
            return std::nullopt;
        }
        out.emplace_back(std::move(*k), std::move(*v));
    }
    return out;
}

namespace {

// A parameter of a header value: `name=value` or `name="value"` after a ';'.
std::optional<std::string> header_param(std::string_view value, std::string_view name) {
    std::size_t i = value.find(';');
    while (i != std::string_view::npos && i < value.size()) {
        ++i;
        while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) {
            ++i;
        }
        const auto eq = value.find('=', i);
        if (eq == std::string_view::npos) {
            return std::nullopt;
        }
        const bool match = iequals(value.substr(i, eq - i), name);
        std::size_t j = eq + 1;
        std::string v;
        if (j < value.size() && value[j] == '"') {
            ++j;
            while (j < value.size() && value[j] != '"') {
                if (value[j] == '\\' && j + 1 < value.size()) {
                    ++j;
                }
                v += value[j++];
            }
            ++j;  // the closing quote
        } else {
            while (j < value.size() && value[j] != ';') {
                v += value[j++];
            }
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
                v.pop_back();
            }
        }
        if (match) {
            return v;
        }
        i = value.find(';', j);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::vector<std::pair<std::string, std::string>>> parse_multipart(std::string_view content_type,
                                                                                std::string_view body,
                                                                                std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    const auto boundary = header_param(content_type, "boundary");
    if (!boundary || boundary->empty() || boundary->size() > 70) {
        err = "multipart/form-data without a boundary of 1 to 70 characters";
        return std::nullopt;
    }
    const std::string delimiter = "--" + *boundary;
    const std::string next_delimiter = "\r\n" + delimiter;
    // The first delimiter: at the start, or after a preamble.
    std::size_t pos = body.starts_with(delimiter) ? 0 : body.find(next_delimiter);
    if (pos == std::string_view::npos) {
        err = "multipart/form-data: the boundary does not occur in the body";
        return std::nullopt;
    }
    pos += pos == 0 && body.starts_with(delimiter) ? delimiter.size() : next_delimiter.size();
    std::vector<std::pair<std::string, std::string>> out;
    for (;;) {
        if (body.substr(pos, 2) == "--") {
            return out;  // the closing delimiter; an epilogue is ignored
        }
        // Transport padding, then CRLF.
        while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) {
            ++pos;
        }
        if (body.substr(pos, 2) != "\r\n") {
            err = "multipart/form-data: a boundary line not followed by CRLF";
            return std::nullopt;
        }
        pos += 2;
        if (out.size() >= kMaxFormParts) {
            err = fmt::format("multipart/form-data: more than {} parts", kMaxFormParts);
            return std::nullopt;
        }
        const auto headers_end = body.find("\r\n\r\n", pos);
        const bool no_headers = body.substr(pos, 2) == "\r\n";
        if (!no_headers && (headers_end == std::string_view::npos || headers_end - pos > 8192)) {
            err = "multipart/form-data: a part's headers do not end (or exceed 8 KiB)";
            return std::nullopt;
        }
        const std::string_view headers = no_headers ? std::string_view() : body.substr(pos, headers_end - pos);
        pos = no_headers ? pos + 2 : headers_end + 4;
        std::optional<std::string> name;
        for (std::size_t h = 0; h < headers.size();) {
            const auto eol = std::min(headers.find("\r\n", h), headers.size());
            const std::string_view line = headers.substr(h, eol - h);
            h = eol + 2;
            const auto colon = line.find(':');
            if (colon != std::string_view::npos && iequals(line.substr(0, colon), "content-disposition")) {
                name = header_param(line.substr(colon + 1), "name");
            }
        }
        if (!name || name->empty()) {
            err = "multipart/form-data: a part without Content-Disposition: form-data; name=\"...\"";
            return std::nullopt;
        }
        const auto end = body.find(next_delimiter, pos);
        if (end == std::string_view::npos) {
            err = "multipart/form-data: the closing boundary is missing";
            return std::nullopt;
        }
        out.emplace_back(std::move(*name), std::string(body.substr(pos, end - pos)));
        pos = end + next_delimiter.size();
    }
}

std::optional<TableValue> value_from_body(std::string_view content_type, std::string_view body, std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    std::string_view media = content_type.substr(0, content_type.find(';'));
    while (!media.empty() && media.back() == ' ') {
        media.remove_suffix(1);
    }
    std::string_view trimmed = body;
    while (!trimmed.empty() && (trimmed.front() == ' ' || trimmed.front() == '\n' || trimmed.front() == '\r' ||
                                trimmed.front() == '\t')) {
        trimmed.remove_prefix(1);
    }
    const bool json = iequals(media, "application/json") || (media.empty() && trimmed.starts_with('{'));
    if (json) {
        return parse_table_value(body, &err);
    }
    const bool multipart = iequals(media, "multipart/form-data");
    if (!media.empty() && !multipart && !iequals(media, "application/x-www-form-urlencoded")) {
        err = fmt::format("unsupported Content-Type '{}': send application/json, "
                          "application/x-www-form-urlencoded or multipart/form-data",
                          media);
        return std::nullopt;
    }
    auto form = multipart ? parse_multipart(content_type, body, &err) : parse_form(body, &err);
    if (!form) {
        return std::nullopt;
    }
    if (form->size() == 1 && form->front().first == "value") {
        std::string_view v = form->front().second;
        while (!v.empty() && v.front() == ' ') {
            v.remove_prefix(1);
        }
        if (v.starts_with('{')) {
            return parse_table_value(v, &err);
        }
    }
    TableValue out;
    for (auto& field : *form) {
        const std::string& name = field.first;
        auto at = std::find_if(out.begin(), out.end(), [&](const Field& f) { return f.name == name; });
        if (at != out.end()) {
            at->value = typed_text(field.second);
        } else {
            out.push_back(Field{std::move(field.first), typed_text(field.second)});
        }
    }
    if (out.empty()) {
        err = "no value: send a JSON object or form fields (e.g. scale=1.02&offset=-0.3)";
        return std::nullopt;
    }
    return out;
}

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 16);
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string url_segment(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

net::HttpResponse handle_table_request(Tables& tables, const net::HttpRequest& req) {
    std::string error;
    auto path = parse_table_path(req.target, &error);
    if (!path) {
        return error_response(req, 404, error);
    }
    const bool read = req.method == "GET" || req.method == "HEAD";
    if (path->kind == TablePath::Kind::List) {
        if (!read) {
            return read_only(error_response(req, 405, "tables are declared in the configuration ([tables.NAME])"));
        }
        return list_tables(tables, req);
    }
    Table* table = tables.find(path->table);
    if (table == nullptr || !table->is_public()) {
        // A table that is not public is not there, as far as the API goes.
        return error_response(req, 404, fmt::format("no public table '{}'", path->table));
    }
    if (path->kind == TablePath::Kind::Table) {
        if (!read) {
            return read_only(error_response(req, 405, "write a key: /api/table/NAME/KEY/"));
        }
        return table_page(*table, req);
    }
    if (read) {
        return key_value(*table, path->key, req);
    }
    if (req.method == "PUT" || req.method == "POST") {
        return put_value(*table, path->key, req);
    }
    if (req.method == "DELETE") {
        return delete_key(*table, path->key, req);
    }
    auto r = error_response(req, 405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, HEAD, PUT, POST, DELETE");
    return r;
}

void add_table_routes(Api& api, Tables& tables) {
    // Reads come from the tables' memory, on the loop. Writes commit to the
    // table store (SQLite, fsync) before they answer, so they run on the
    // API's writer thread and answer from there.
    api.add_route("GET", std::string(kPrefix),
                  [&tables](const net::HttpRequest& req) { return handle_table_request(tables, req); });
    for (const char* method : {"PUT", "POST", "DELETE"}) {
        api.add_route(method, std::string(kPrefix), [&api, &tables](const net::HttpRequest& req) {
            return api.off_loop([&tables, req] { return handle_table_request(tables, req); });
        });
    }
}

}  // namespace sluice::http
