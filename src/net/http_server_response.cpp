// Responses on the wire: the status line, Date, the handler's headers (minus
// the ones the server owns or that could split the response),
// Content-Length, Connection; and the reason phrases.

#include "net/http_server.hpp"

#include <algorithm>
#include <ctime>
#include <iterator>

#include <fmt/format.h>

namespace sluice::net {

namespace {

// RFC 9110 §5.6.7 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". Built by
// hand because strftime's %a/%b follow the locale. Cached per second.
std::string_view http_date() {
    thread_local std::time_t cached_sec = -1;
    thread_local char buf[32];
    thread_local std::size_t len = 0;
    const std::time_t now = std::time(nullptr);
    if (now != cached_sec) {
        static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        std::tm tm{};
        gmtime_r(&now, &tm);
        const auto r = fmt::format_to_n(buf, sizeof buf, "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", days[tm.tm_wday % 7],
                                        tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                                        tm.tm_sec);
        len = std::min(r.size, sizeof buf);
        cached_sec = now;
    }
    return {buf, len};
}

bool header_is_safe(std::string_view name, std::string_view value) {
    if (name.empty()) {
        return false;
    }
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == ':') {
            return false;
        }
    }
    for (char c : value) {
        if (c == '\r' || c == '\n' || c == '\0') {
            return false;  // would let a handler split the response
        }
    }
    return true;
}

bool body_allowed(int status) { return status >= 200 && status != 204 && status != 304; }

}  // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

void serialize_response(const HttpResponse& resp, bool head_only, bool keep_alive, int version_minor,
                        std::string& out) {
    const int status = (resp.status >= 100 && resp.status <= 999) ? resp.status : 500;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "HTTP/1.1 {} {}\r\nDate: {}\r\n", status, reason_phrase(status), http_date());
    const bool with_body = body_allowed(status);
    if (with_body && !resp.content_type.empty() && header_is_safe("Content-Type", resp.content_type)) {
        fmt::format_to(it, "Content-Type: {}\r\n", resp.content_type);
    }
    for (const auto& [name, value] : resp.headers) {
        if (!header_is_safe(name, value) || iequals(name, "content-length") || iequals(name, "connection") ||
            iequals(name, "transfer-encoding") || iequals(name, "date") ||
            (iequals(name, "content-type") && with_body && !resp.content_type.empty())) {
            continue;
        }
        fmt::format_to(it, "{}: {}\r\n", name, value);
    }
    if (with_body) {
        fmt::format_to(it, "Content-Length: {}\r\n", resp.body.size());
    }
    if (!keep_alive) {
        out += "Connection: close\r\n";
    } else if (version_minor == 0) {
        out += "Connection: keep-alive\r\n";
    }
    out += "\r\n";
    if (with_body && !head_only) {
        out += resp.body;
    }
}

void serialize_stream_head(const HttpResponse& resp, int version_minor, std::string& out) {
    const int status = (resp.status >= 200 && resp.status <= 299) ? resp.status : 200;
    auto it = std::back_inserter(out);
    fmt::format_to(it, "HTTP/1.1 {} {}\r\nDate: {}\r\n", status, reason_phrase(status), http_date());
    if (!resp.content_type.empty() && header_is_safe("Content-Type", resp.content_type)) {
        fmt::format_to(it, "Content-Type: {}\r\n", resp.content_type);
    }
    for (const auto& [name, value] : resp.headers) {
        if (!header_is_safe(name, value) || iequals(name, "content-length") || iequals(name, "connection") ||
            iequals(name, "transfer-encoding") || iequals(name, "date") || iequals(name, "content-type")) {
            continue;
        }
        fmt::format_to(it, "{}: {}\r\n", name, value);
    }
    // A proxy such as nginx buffers responses unless told otherwise.
    out += "X-Accel-Buffering: no\r\n";
    if (version_minor >= 1) {
        out += "Transfer-Encoding: chunked\r\n";
    }
    out += "Connection: close\r\n\r\n";
}

}  // namespace sluice::net
