// stats_json_to_html: the /stats figures as a plain HTML page (no script),
// for browsers with JavaScript off. Generic: objects become two-column
// tables (nested objects nest), arrays of objects one table with a column
// per member.
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "http/table_api.hpp"
#include "http/ui_assets.hpp"

namespace sluice::http {
namespace {

constexpr unsigned kMaxDepth = 16;

std::string number_text(const rapidjson::Value& v) {
    if (v.IsInt64()) {
        return fmt::format("{}", v.GetInt64());
    }
    if (v.IsUint64()) {
        return fmt::format("{}", v.GetUint64());
    }
    const double d = v.GetDouble();
    if (!std::isfinite(d)) {
        return "–";
    }
    if (d != 0 && std::fabs(d) < 0.01) {
        return fmt::format("{:.3g}", d);
    }
    return fmt::format("{:.2f}", d);
}

void render(std::string& out, const rapidjson::Value& v, unsigned depth);

void render_object(std::string& out, const rapidjson::Value& v, unsigned depth) {
    if (v.MemberCount() == 0) {
        out += "<i>none</i>";
        return;
    }
    out += "<table>";
    for (const auto& m : v.GetObject()) {
        out += "<tr><th>";
        out += html_escape(std::string_view(m.name.GetString(), m.name.GetStringLength()));
        out += "</th><td>";
        render(out, m.value, depth + 1);
        out += "</td></tr>";
    }
    out += "</table>";
}

void render_array(std::string& out, const rapidjson::Value& v, unsigned depth) {
    if (v.Empty()) {
        out += "<i>none</i>";
        return;
    }
    bool objects = true;
    std::vector<std::string> columns;
    std::set<std::string> seen;
    for (const auto& e : v.GetArray()) {
        if (!e.IsObject()) {
            objects = false;
            break;
        }
        for (const auto& m : e.GetObject()) {
            std::string name(m.name.GetString(), m.name.GetStringLength());
            if (seen.insert(name).second) {
                columns.push_back(std::move(name));
            }
        }
    }
    if (!objects) {
        out += "<ol>";
        for (const auto& e : v.GetArray()) {
            out += "<li>";
            render(out, e, depth + 1);
            out += "</li>";
        }
        out += "</ol>";
        return;
    }
    out += "<table><tr>";
    for (const auto& c : columns) {
        out += "<th>" + html_escape(c) + "</th>";
    }
    out += "</tr>";
    for (const auto& e : v.GetArray()) {
        out += "<tr>";
        for (const auto& c : columns) {
            out += "<td>";
            const auto it = e.FindMember(rapidjson::StringRef(c.data(), c.size()));
            if (it != e.MemberEnd()) {
                render(out, it->value, depth + 1);
            }
            out += "</td>";
        }
        out += "</tr>";
    }
    out += "</table>";
}

void render(std::string& out, const rapidjson::Value& v, unsigned depth) {
    if (depth > kMaxDepth) {
        out += "…";
        return;
    }
    if (v.IsObject()) {
        render_object(out, v, depth);
    } else if (v.IsArray()) {
        render_array(out, v, depth);
    } else if (v.IsString()) {
        out += html_escape(std::string_view(v.GetString(), v.GetStringLength()));
    } else if (v.IsNumber()) {
        out += number_text(v);
    } else if (v.IsBool()) {
        out += v.GetBool() ? "yes" : "no";
    } else {
        out += "–";
    }
}

}  // namespace

std::string stats_json_to_html(std::string_view json, std::string_view title) {
    std::string out;
    out.reserve(json.size() * 3 + 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
           "<meta http-equiv=\"refresh\" content=\"10\"><title>";
    out += html_escape(title);
    out += "</title><style>"
           "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
           "table{border-collapse:collapse;margin:.1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
           "text-align:left;vertical-align:top}th{background:#f4f4f4;font-weight:600}"
           "td{font-variant-numeric:tabular-nums}nav a{margin-right:1em}"
           "</style></head><body>\n<nav><a href=\"/\">web UI</a><a href=\"/stats/\">stats</a>"
           "<a href=\"/stats/topic/\">topics</a><a href=\"/api/table/\">tables</a></nav>\n<h1>";
    out += html_escape(title);
    out += "</h1>\n<p>Refreshes every 10 s. Rates are per second, latencies in seconds.</p>\n";
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseFullPrecisionFlag>(json.data(), json.size());
    if (doc.HasParseError()) {
        out += fmt::format("<p>The figures could not be read: {} (at byte {}).</p>",
                           html_escape(rapidjson::GetParseError_En(doc.GetParseError())), doc.GetErrorOffset());
    } else {
        render(out, doc, 0);
    }
    out += "\n</body></html>\n";
    return out;
}

}  // namespace sluice::http
