#include "http/keys_api.hpp"

#include <fmt/format.h>

#include "core/key_stores.hpp"
#include "core/log.hpp"
#include "core/record_json.hpp"
#include "core/url.hpp"

namespace sluice::http {

namespace {

constexpr std::size_t kMaxSubjectBytes = 1024;
constexpr std::size_t kMaxByBytes = 128;

net::HttpResponse json(int status, std::string body) {
    body += '\n';
    net::HttpResponse r{status, "application/json", {}, std::move(body)};
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

net::HttpResponse error(int status, std::string_view message) {
    std::string body = "{\"error\":";
    append_json_string(body, message);
    body += '}';
    return json(status, std::move(body));
}

// Who asked, for the audit trail: "api", or "api: <by>" with a printable
// `by` the client gave.
std::optional<std::string> audit_by(const net::HttpRequest& req) {
    const auto by = req.query_param("by");
    if (!by || by->empty()) {
        return std::string("api");
    }
    if (by->size() > kMaxByBytes) {
        return std::nullopt;
    }
    for (const char c : *by) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return std::nullopt;
        }
    }
    std::string out = "api: ";
    out += *by;
    return out;
}

net::HttpResponse forget_route(Api& api, const net::HttpRequest& req) {
    std::string why;
    auto subject = parse_keys_subject(req.target, &why);
    if (!subject) {
        return error(400, why);
    }
    auto by = audit_by(req);
    if (!by) {
        return error(400, fmt::format("'by' must be printable text of at most {} bytes", kMaxByBytes));
    }
    return api.off_loop([subject = std::move(*subject), by = std::move(*by)] {
        const auto outcomes = key_stores().forget(subject, by);
        if (outcomes.empty()) {
            return error(404, "no encrypt or decrypt stage runs in this gateway, so it has no key store to forget "
                              "in (`sluice keys forget` works on a store directly)");
        }
        bool any = false;
        bool failed = false;
        std::string stores;
        for (const auto& o : outcomes) {
            any = any || o.forgotten;
            failed = failed || !o.error.empty();
            stores += stores.empty() ? "{" : ",{";
            stores += "\"key_store\":";
            append_json_string(stores, o.key_store);
            if (o.forgotten) {
                // Only then: a token holder must not learn pseudonyms, or
                // whether someone is known, by asking.
                stores += ",\"pseudonym\":";
                append_json_string(stores, o.pseudonym);
            }
            stores += fmt::format(",\"forgotten\":{}", o.forgotten);
            if (!o.error.empty()) {
                stores += ",\"error\":";
                append_json_string(stores, o.error);
                log::error("keys: forgetting a subject in {} failed: {}", o.key_store, o.error);
            } else if (o.forgotten) {
                log::info("keys: forgot the subject with pseudonym {} in {} ({}): its data keys are deleted",
                          o.pseudonym, o.key_store, by);
            }
            stores += '}';
        }
        std::string body = fmt::format("{{\"forgotten\":{},", any);
        if (failed) {
            body += "\"error\":\"a key store failed: see key_stores\",";
        } else if (!any) {
            body += "\"error\":\"no data key for that subject: nothing to forget\",";
        }
        body += "\"key_stores\":[" + stores + "]}";
        return json(failed ? 500 : any ? 200 : 404, std::move(body));
    });
}

}  // namespace

std::optional<std::string> parse_keys_subject(std::string_view target, std::string* error) {
    auto fail = [&](std::string_view why) -> std::optional<std::string> {
        if (error != nullptr) {
            *error = std::string(why);
        }
        return std::nullopt;
    };
    target = target.substr(0, target.find('?'));
    if (const auto scheme = target.find("://"); !target.starts_with('/') && scheme != std::string_view::npos) {
        // Absolute form (from a proxy): the path after the host.
        const auto path = target.find('/', scheme + 3);
        target = path == std::string_view::npos ? std::string_view() : target.substr(path);
    }
    if (!target.starts_with(kKeysPrefix) || target.size() <= kKeysPrefix.size() ||
        target[kKeysPrefix.size()] != '/') {
        return fail("name the subject: /api/keys/<subject>");
    }
    const std::string_view raw = target.substr(kKeysPrefix.size() + 1);
    if (raw.empty()) {
        return fail("name the subject: /api/keys/<subject>");
    }
    if (raw.find('/') != std::string_view::npos) {
        return fail("the subject is one path segment: write a '/' in it as %2F");
    }
    auto subject = percent_decode(raw, false);
    if (!subject) {
        return fail("malformed percent-encoding in the subject");
    }
    if (subject->empty() || subject->size() > kMaxSubjectBytes) {
        return fail(fmt::format("the subject must be 1 to {} bytes", kMaxSubjectBytes));
    }
    return subject;
}

void add_keys_routes(Api& api) {
    net::hide_path_in_logs("/keys/");
    api.add_route("DELETE", std::string(kKeysPrefix), [&api](const net::HttpRequest& req) { return forget_route(api, req); });
}

}  // namespace sluice::http
