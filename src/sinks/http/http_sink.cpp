// POSTs (or PUTs) batches of records to an HTTP(S) receiver (a webhook):
// one request per rendered path, cut at max_body, as a JSON array or one
// payload per line. 2xx confirms a request's records; 408, 429, 5xx,
// credential refusals and transport failures retry after the back-off or
// the receiver's Retry-After; 413 halves the request; other 4xx make its
// records dead letters with the answer. The runtime owns the cursor.

#include <algorithm>
#include <array>
#include <chrono>
#include <map>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/tcp_probe.hpp"
#include "core/url.hpp"
#include "net/http_endpoint.hpp"
#include "net/http_response_parser.hpp"
#include "sinks/http/http_sink_protocol.hpp"
#include "text/template.hpp"
#include "text/text.hpp"
#include "text/text_value.hpp"

namespace sluice::components {
namespace {

using namespace sluice::http_sink;

constexpr std::size_t kAnswerExcerpt = 300;  // bytes of the receiver's answer in messages
constexpr std::size_t kMinBody = 1024;       // a learned body limit (413) never goes below this

void http_from_url(const Url& url, RawTable& out) {
    if (url.host.empty()) {
        throw ConfigError("an http URL needs a host: http://host[:port]/path");
    }
    out.push_back(text_entry("host", url.host));
    if (url.port != 0) {
        out.push_back(text_entry("port", std::to_string(url.port)));
    }
    out.push_back(text_entry("tls", url.scheme == "https" ? "true" : "false"));
    if (!url.user.empty()) {
        out.push_back(text_entry("user", url.user));
    }
    if (!url.password.empty()) {
        out.push_back(text_entry("password", url.password));
    }
    if (!url.path.empty()) {
        // Decoded by the URL parser: encoded again where a path needs it.
        out.push_back(text_entry("path", path_from_url(url.path)));
    }
    for (const auto& [key, value] : url.query) {
        out.push_back(text_entry(key, value));
    }
}

Template path_option(const Options& o) {
    const std::string& text = o.str("path");
    std::string error;
    if (!valid_path_template(text, &error)) {
        throw ConfigError(fmt::format("option 'path': {}", error));
    }
    auto t = Template::parse(text, &error);
    if (!t) {
        throw ConfigError(fmt::format("option 'path': {}", error));
    }
    return std::move(*t);
}

BodyFormat body_format(const Options& o) {
    BodyFormat f;
    f.format = *payload::parse_format(o.str("format"));
    f.raw_field = o.str("raw_field");
    f.framing = o.str("framing") == "lines" ? Framing::Lines : Framing::Array;
    f.max_body = o.memory_size("max_body");
    if (f.framing == Framing::Array && f.format != payload::Format::Json) {
        throw ConfigError(fmt::format("framing = \"array\" sends a JSON array and needs format = \"json\"; write "
                                      "framing = \"lines\" for {} payloads",
                                      o.str("format")));
    }
    return f;
}

// Every header of a request but Content-Length (and Content-Encoding, which
// the client adds with gzip): Content-Type, the configured ones, and the
// credentials. Secrets never appear in the errors.
net::HttpHeaders request_headers(const Options& o, const BodyFormat& f, const net::HttpHeaders& basic_auth) {
    net::HttpHeaders h;
    const std::string content_type = o.str_or("content_type", "");
    if (!valid_header_value(content_type)) {
        throw ConfigError("option 'content_type' holds a line break or another control character");
    }
    h.emplace_back("Content-Type", content_type.empty() ? std::string(default_content_type(f)) : content_type);
    for (const std::string& line : o.list_or_empty("headers")) {
        std::string error;
        auto header = parse_header_line(line, false, &error);
        if (!header) {
            throw ConfigError(fmt::format("option 'headers': {}", error));
        }
        h.push_back(std::move(*header));
    }
    const std::string token = o.str_or("token", "");
    const std::string auth_header = o.str_or("auth_header", "");
    const int ways = (token.empty() ? 0 : 1) + (basic_auth.empty() ? 0 : 1) + (auth_header.empty() ? 0 : 1);
    if (ways > 1) {
        throw ConfigError("set one of token, user/password and auth_header");
    }
    if (!token.empty()) {
        if (!valid_header_value(token)) {
            throw ConfigError("option 'token' holds a line break or another control character");
        }
        h.emplace_back("Authorization", "Bearer " + token);
    }
    if (!auth_header.empty()) {
        std::string error;
        auto header = parse_header_line(auth_header, true, &error);
        if (!header) {
            // Not the line itself: it is a secret.
            throw ConfigError("option 'auth_header' must be one header, \"Name: value\" (a name HTTP allows, ':', "
                              "a value without line breaks), and not one the sink sets itself");
        }
        h.push_back(std::move(*header));
    }
    h.insert(h.end(), basic_auth.begin(), basic_auth.end());
    return h;
}

class HttpSink final : public Sink {
public:
    explicit HttpSink(const Options& o)
        : endpoint_(o, "the receiver"),
          path_(path_option(o)),
          method_(o.str("method") == "put" ? "PUT" : "POST"),
          format_(body_format(o)),
          headers_(request_headers(o, format_, endpoint_.headers())),
          health_path_(o.str_or("health_path", "")) {
        std::string error;
        if (!health_path_.empty() && !valid_path_template(health_path_, &error)) {
            throw ConfigError(fmt::format("option 'health_path': {}", error));
        }
        for (const char* name : {"token", "password"}) {
            if (std::string v = o.str_or(name, ""); v.size() >= 4) {
                secrets_.push_back(std::move(v));
            }
        }
        for (const auto& [name, value] : headers_) {
            if (iequals(name, "Authorization") && value.size() >= 4) {
                secrets_.push_back(value.substr(value.find(' ') + 1));  // "Basic xyz" -> xyz
            }
        }
        if (std::string v = o.str_or("auth_header", ""); !v.empty()) {
            if (auto h = parse_header_line(v, true, &error); h && h->second.size() >= 4) {
                secrets_.push_back(h->second);
            }
        }
    }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        const Labels l{{"component", name_}};
        auto& m = metrics();
        static constexpr std::string_view kHelp =
            "Answers the http sink got, by status class (2xx, 3xx, 4xx, 429, 5xx), and requests that got none "
            "(error: connect, TLS, timeout)";
        for (std::size_t i = 0; i < kClasses.size(); ++i) {
            Labels cl = l;
            cl.emplace_back("status", std::string(kClasses[i]));
            answers_[i] = &m.counter("sluice_http_sink_requests_total", std::string(kHelp), cl);
        }
        endpoint_.open(name_);
    }

    SendResult send(std::span<const Record> batch) override {
        std::vector<bool> done(batch.size(), false);
        std::vector<std::pair<std::size_t, std::string>> rejected;
        // One request target per rendered path, in order of first appearance.
        std::vector<std::string> targets;
        std::vector<std::vector<std::size_t>> groups;
        std::map<std::string, std::size_t, std::less<>> index;
        std::string target;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!path_.render(batch[i], target, percent_encode)) {
                done[i] = true;
                rejected.emplace_back(i, fmt::format("the path template '{}' needs '{}', which the record lacks",
                                                     path_.text(), path_.missing_name(batch[i])));
                continue;
            }
            if (has_dot_segment(target)) {
                done[i] = true;
                rejected.emplace_back(i, fmt::format("the path template '{}' renders '{}', whose '.' or '..' "
                                                     "segment would send the record elsewhere",
                                                     path_.text(), excerpt(target, 200)));
                continue;
            }
            auto [it, fresh] = index.try_emplace(target, targets.size());
            if (fresh) {
                targets.push_back(target);
                groups.emplace_back();
            }
            groups[it->second].push_back(i);
        }
        Failure failure;
        for (std::size_t g = 0; g < groups.size() && failure.error.empty(); ++g) {
            send_rows(targets[g], groups[g], batch, done, rejected, failure);
        }

        SendResult result;
        while (result.confirmed < batch.size() && done[result.confirmed]) {
            ++result.confirmed;
        }
        if (result.confirmed < batch.size()) {
            result.error = failure.error.empty() ? std::string("not every record was answered") : failure.error;
            result.retry_after = failure.retry_after;
        }
        for (auto& r : rejected) {
            if (r.first < result.confirmed) {
                result.rejected.push_back(std::move(r));
            }
        }
        std::sort(result.rejected.begin(), result.rejected.end());
        return result;
    }

    bool healthy(std::string& reason) override {
        const auto& s = endpoint_.settings();
        if (health_path_.empty()) {
            reason = probe_tcp(s.host, s.port,
                               std::chrono::ceil<std::chrono::seconds>(s.connect_timeout));
            return reason.empty();
        }
        std::string err;
        auto resp = endpoint_.request("GET", health_path_, headers_, "", &err);
        if (!resp) {
            reason = err;
            return false;
        }
        if (resp->status / 100 != 2) {
            reason = fmt::format("the receiver at {}:{} answered HTTP {} to GET {}", s.host, s.port, resp->status,
                                 health_path_);
            return false;
        }
        return true;
    }

    void close() override { endpoint_.close(); }

private:
    static constexpr std::array<std::string_view, 6> kClasses = {"2xx", "3xx", "4xx", "429", "5xx", "error"};

    struct Failure {
        std::string error;
        std::chrono::nanoseconds retry_after{0};
    };

    std::string answer_excerpt(const std::string& body) const {
        std::string text = body.substr(0, kAnswerExcerpt * 4);
        for (const std::string& secret : secrets_) {
            for (std::size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
                text.replace(at, secret.size(), "(secret)");
                at += 8;
            }
        }
        return excerpt(text, kAnswerExcerpt);
    }

    void count(int status) {
        std::size_t i = 5;
        if (status == 429) {
            i = 3;
        } else if (status >= 200 && status <= 299) {
            i = 0;
        } else if (status >= 300 && status <= 399) {
            i = 1;
        } else if (status >= 400 && status <= 499) {
            i = 2;
        } else if (status >= 500 && status <= 599) {
            i = 4;
        }
        if (answers_[i] != nullptr) {
            answers_[i]->inc();
        }
    }

    // Sends `rows` (indices into `batch`, all for `target`) in bodies of at
    // most max_body. False once a request failed in a way that is retried:
    // `failure` says why, and nothing after it is sent.
    bool send_rows(const std::string& target, const std::vector<std::size_t>& rows, std::span<const Record> batch,
                   std::vector<bool>& done, std::vector<std::pair<std::size_t, std::string>>& rejected,
                   Failure& failure) {
        BodyBuilder body(format_);
        std::vector<std::size_t> in_body;
        std::string why;
        for (std::size_t k = 0; k < rows.size(); ++k) {
            const std::size_t i = rows[k];
            switch (body.add(batch[i], &why)) {
                case BodyBuilder::Added::Yes:
                    in_body.push_back(i);
                    break;
                case BodyBuilder::Added::Refused:
                    done[i] = true;
                    rejected.emplace_back(i, why);
                    break;
                case BodyBuilder::Added::Full:
                    if (!post(target, in_body, body.take(), batch, done, rejected, failure)) {
                        return false;
                    }
                    in_body.clear();
                    --k;  // this record starts the next body
                    break;
            }
        }
        return in_body.empty() || post(target, in_body, body.take(), batch, done, rejected, failure);
    }

    bool post(const std::string& target, const std::vector<std::size_t>& rows, const std::string& body,
              std::span<const Record> batch, std::vector<bool>& done,
              std::vector<std::pair<std::size_t, std::string>>& rejected, Failure& failure) {
        std::string err;
        auto resp = endpoint_.request(method_, target, headers_, body, &err);
        if (!resp) {
            count(0);
            failure.error = fmt::format("{} {}: {}", method_, target, err);
            return false;
        }
        const int status = resp->status;
        count(status);
        const auto s = endpoint_.settings();
        switch (verdict_for(status)) {
            case Verdict::Delivered:
                for (std::size_t i : rows) {
                    done[i] = true;
                }
                return true;
            case Verdict::Refuse: {
                const std::string why = fmt::format("the receiver refused {} {} with HTTP {}: {}", method_, target,
                                                    status, answer_excerpt(resp->body));
                log::debug("{}: {} ({} records)", name_, why, rows.size());
                for (std::size_t i : rows) {
                    done[i] = true;
                    rejected.emplace_back(i, why);
                }
                return true;
            }
            case Verdict::Split: {
                if (rows.size() == 1) {
                    done[rows[0]] = true;
                    rejected.emplace_back(rows[0], fmt::format("the receiver takes no request this large (HTTP 413 "
                                                               "for one record of {} bytes)",
                                                               body.size()));
                    return true;
                }
                // Half the body, rounded up, and the byte that closes it:
                // each half of equal records fits.
                const std::size_t limit = std::max(kMinBody, (body.size() + 1) / 2 + 1);
                if (limit < format_.max_body) {
                    if (!warned_413_) {
                        log::warn("{}: the receiver refused a body of {} bytes as too large (HTTP 413): sending at "
                                  "most {} bytes per request from now on, less if it refuses again (set max_body "
                                  "to keep it so after a restart)",
                                  name_, body.size(), limit);
                        warned_413_ = true;
                    }
                    format_.max_body = limit;
                }
                const auto half = static_cast<std::ptrdiff_t>(rows.size() / 2);
                const std::vector<std::size_t> first(rows.begin(), rows.begin() + half);
                const std::vector<std::size_t> second(rows.begin() + half, rows.end());
                return send_rows(target, first, batch, done, rejected, failure) &&
                       send_rows(target, second, batch, done, rejected, failure);
            }
            case Verdict::Retry:
                break;
        }
        std::string hint;
        if (status >= 300 && status <= 399) {
            const std::string* location = resp->header("Location");
            hint = fmt::format(" (redirects are not followed: point host and path at {})",
                               location != nullptr ? excerpt(*location, kAnswerExcerpt) : "the final address");
        } else if (status == 401 || status == 403 || status == 407) {
            hint = " (check the credentials: token, user/password or auth_header)";
        }
        failure.error = fmt::format("the receiver at {}:{} answered HTTP {} to {} {}{}: {}", s.host, s.port, status,
                                    method_, target, hint, answer_excerpt(resp->body));
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        if (auto wait = net::retry_after(*resp, now)) {
            failure.retry_after = *wait;
        }
        return false;
    }

    net::HttpEndpoint endpoint_;
    Template path_;
    std::string method_;
    BodyFormat format_;
    net::HttpHeaders headers_;
    std::string health_path_;
    std::string name_ = "http";
    std::array<Counter*, kClasses.size()> answers_{};
    bool warned_413_ = false;
    // The credentials' values, kept out of the receiver's answers quoted in
    // logs and dead letters (a receiver may echo the request's headers).
    std::vector<std::string> secrets_;
};

}  // namespace

const Descriptor& sink_http() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "http",
        .summary = "POSTs batches of records to an HTTP(S) endpoint (a webhook) as a JSON array or one payload per "
                   "line",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "The cursor moves only past records of requests the receiver answered with 2xx (or refused "
                       "with a 4xx: dead letters): a timeout, a 5xx or a crash before the cursor update sends the "
                       "request again, so the receiver may get a record twice, never not at all.",
        .options = net::http_sink_options(
            concat_specs({
                {
                {.name = "host", .type = OptionType::String, .doc = "The receiver's host name or address",
                 .required = true, .min = 1, .max = 253},
                {.name = "port", .type = OptionType::Int, .doc = "The receiver's port (default 80, or 443 with tls)",
                 .min = 1, .max = 65535},
                {.name = "tls", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Use HTTPS (https:// URLs turn this on)"},
                {.name = "path", .type = OptionType::String, .default_value = "/",
                 .doc = "Request path and query, a template: literal text and {tag or field name}, {measurement}, "
                        "{origin} (percent-encoded), e.g. \"/ingest/{node}?source=sluice\"; records are sent to each "
                        "path they render, and a record that lacks a name is a dead letter",
                 .min = 1, .max = 4096},
                {.name = "method", .type = OptionType::Enum, .default_value = "post",
                 .doc = "The request method", .choices = "post|put"},
                },
                payload::option_specs(),
                {
                    {.name = "framing", .type = OptionType::Enum, .default_value = "array",
                     .doc = "array: one JSON array per request (format json); lines: one payload per line "
                            "(NDJSON with format json)",
                     .choices = "array|lines"},
                    {.name = "content_type", .type = OptionType::String,
                     .doc = "Content-Type of the requests (default: application/json for an array, "
                            "application/x-ndjson for JSON lines, text/plain for influx, application/octet-stream "
                            "for raw)",
                     .max = 255},
                    {.name = "headers", .type = OptionType::List,
                     .doc = "Extra request headers, \"Name: value\" (shown by `sluice describe`: put credentials in "
                            "token, user/password or auth_header)",
                     .max = 64},
                    {.name = "token", .type = OptionType::Secret,
                     .doc = "Bearer token: sent as \"Authorization: Bearer <token>\"", .max = 8192},
                    {.name = "auth_header", .type = OptionType::Secret,
                     .doc = "One header that carries a credential, \"Name: value\" (e.g. \"X-API-Key: ...\")",
                     .max = 8192},
                },
            }),
            {
                    {.name = "timeout", .type = OptionType::Duration, .default_value = "30s",
                     .doc = "Time limit for the receiver's answer; past it the request is retried",
                     .min = 0.001, .max = 3600},
                    {.name = "gzip", .type = OptionType::Bool, .default_value = "false",
                     .doc = "gzip request bodies of 1 KiB or more (Content-Encoding: gzip)"},
                    {.name = "max_body", .type = OptionType::Size, .default_value = "1MiB",
                     .doc = "Most bytes in one request body before gzip: a batch is cut into as many requests as "
                            "it needs (a larger single record goes alone); an HTTP 413 answer halves it",
                     .min = 1024, .max = 64 << 20},
                    {.name = "health_path", .type = OptionType::String,
                     .doc = "A path whose GET answers 2xx while the receiver is up, for `validate --healthcheck` "
                            "(empty: a TCP connect is the check)",
                     .max = 4096},
            }),
        .url_schemes = {"http", "https"},
        .from_url = http_from_url,
        .url_example = "https://hooks.example.com/ingest/{node}?framing=lines",
        .make_sink = [](const Options& o) { return std::make_unique<HttpSink>(o); },
    };
    return d;
}

}  // namespace sluice::components
