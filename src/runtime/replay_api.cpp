#include "runtime/replay_api.hpp"

#include <charconv>
#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "core/units.hpp"
#include "decoders/timestamp.hpp"
#include "http/api.hpp"
#include "runtime/lifecycle.hpp"

namespace sluice {

std::optional<BufferPoint> parse_buffer_point(std::string_view text, std::string* error) {
    auto fail = [&](std::string why) -> std::optional<BufferPoint> {
        if (error != nullptr) {
            *error = std::move(why);
        }
        return std::nullopt;
    };
    if (text.empty()) {
        return fail("give a record id, a time (2026-12-07T10:00:00Z) or a duration before now (-2h)");
    }
    BufferPoint p;
    if (text.find_first_not_of("0123456789") == std::string_view::npos) {
        std::uint64_t id = 0;
        const auto r = std::from_chars(text.data(), text.data() + text.size(), id);
        if (r.ec != std::errc() || id == 0) {
            return fail(fmt::format("'{}' is not a record id (1 or more)", text));
        }
        p.id = id;
        return p;
    }
    if (text.front() == '-') {
        std::string why;
        const auto ago = parse_duration(text.substr(1), &why);
        if (!ago) {
            return fail(fmt::format("'{}': {}", text, why));
        }
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        p.time = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() - ago->count();
        return p;
    }
    if (const auto t = decoders::parse_iso8601(text)) {
        p.time = *t;
        return p;
    }
    return fail(fmt::format("'{}' is neither a record id, a time (2026-12-07T10:00:00Z) nor a duration before now "
                            "(-2h)",
                            text));
}

std::string replay_json(const std::string& pipeline, const std::string& sink, const ReplayOutcome& o) {
    std::string out = "{\"pipeline\":";
    append_json_string(out, pipeline);
    out += ",\"sink\":";
    append_json_string(out, sink);
    if (o.status != 200) {
        out += ",\"error\":";
        append_json_string(out, o.message);
    } else {
        out += fmt::format(",\"from_id\":{},\"records\":{},\"from_time\":", o.plan.from_id, o.records);
        if (o.plan.from_time != 0) {
            out += '"';
            append_rfc3339(out, o.plan.from_time);
            out += '"';
        } else {
            out += "null";
        }
    }
    if (!o.plan.note.empty()) {
        out += ",\"note\":";
        append_json_string(out, o.plan.note);
    }
    out += "}\n";
    return out;
}

void add_replay_route(http::Api& api, GatewayLifecycle& life, const std::filesystem::path& data_dir) {
    api.add_route("POST", "/api/buffer/replay", [&api, &life, data_dir](const net::HttpRequest& req) {
        const auto json = [](int status, std::string body) {
            return net::HttpResponse{status, "application/json", {{"Cache-Control", "no-store"}}, std::move(body)};
        };
        const auto error = [&](int status, std::string_view why) {
            std::string body = "{\"error\":";
            append_json_string(body, why);
            body += "}\n";
            return json(status, std::move(body));
        };
        const std::string pipeline = req.query_param("pipeline").value_or("");
        const std::string sink = req.query_param("sink").value_or("");
        const bool names_ok = !pipeline.empty() && pipeline.size() <= 128 && pipeline.front() != '.' &&
                              pipeline.find_first_of("/\\") == std::string::npos && !sink.empty() &&
                              sink.size() <= 128;
        if (!names_ok) {
            return error(400, "name the pipeline and the sink: ?pipeline=P&sink=S&from=POINT");
        }
        std::string why;
        const auto from = parse_buffer_point(req.query_param("from").value_or(""), &why);
        if (!from) {
            return error(400, "from: " + why);
        }
        // Planned on the API's writer thread through a read-only connection
        // to the pipeline's buffer (no lock of the gateway's is held); the
        // runner checks again when it moves the cursor.
        const auto db = data_dir / (pipeline + ".sqlite");
        return api.off_loop_deferred([&life, db, pipeline, sink, from = *from, json, error](net::HttpRespond respond) {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(db, ec)) {
                respond(error(404, fmt::format("no pipeline '{}'", pipeline)));
                return;
            }
            ReplayPlan plan = plan_replay_file(db, sink, from);
            if (!plan.error.empty()) {
                const int status = plan.error.find("has no sink") != std::string::npos ? 404 : 409;
                respond(json(status, replay_json(pipeline, sink, ReplayOutcome{status, plan.error, plan, 0})));
                return;
            }
            life.replay(pipeline, sink, plan.from_id, [pipeline, sink, plan, respond, json](ReplayOutcome o) {
                o.plan = plan;
                respond(json(o.status, replay_json(pipeline, sink, o)));
            });
        });
    });
}

}  // namespace sluice
