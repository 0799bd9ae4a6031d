#include "sinks/pushgateway/pushgateway_protocol.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/url.hpp"
#include "text/base64.hpp"

namespace sluice::pushgateway {
namespace {

std::string sanitise(std::string_view s, bool colon_ok) {
    std::string out;
    out.reserve(s.size() + 1);
    for (const char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                        (colon_ok && c == ':');
        out += ok ? c : '_';
    }
    if (out.empty() || (out[0] >= '0' && out[0] <= '9')) {
        out.insert(out.begin(), '_');
    }
    return out;
}

void append_segment(std::string& out, std::string_view name, std::string_view value) {
    if (value.empty() || value.find('/') != std::string_view::npos) {
        out += fmt::format("/{}@base64/{}", name, value.empty() ? std::string("=") : base64url(value));
    } else {
        out += fmt::format("/{}/{}", name, percent_encode(value));
    }
}

std::string format_value(double v) {
    if (std::isnan(v)) {
        return "NaN";
    }
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    return fmt::format("{}", v);
}

}  // namespace

std::string sanitise_metric_name(std::string_view s) { return sanitise(s, true); }
std::string sanitise_label_name(std::string_view s) {
    std::string out = sanitise(s, false);
    // Names starting with "__" are reserved for Prometheus itself.
    while (out.size() > 1 && out[0] == '_' && out[1] == '_') {
        out.erase(0, 1);
    }
    return out;
}

std::string escape_label_value(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (const char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string base64url(std::string_view s) { return base64(s, Base64::Url); }

std::string grouping_path(std::string_view job, const std::vector<std::pair<std::string, std::string>>& labels) {
    std::string out = "/metrics";
    append_segment(out, "job", job);
    for (const auto& [name, value] : labels) {
        append_segment(out, name, value);
    }
    return out;
}

bool parse_grouping(const std::vector<std::string>& items, std::vector<std::pair<std::string, std::string>>& out,
                    std::string* error) {
    for (const auto& item : items) {
        const auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0) {
            if (error) {
                *error = fmt::format("grouping entry \"{}\" is not label=value", item);
            }
            return false;
        }
        const std::string name = item.substr(0, eq);
        if (sanitise_label_name(name) != name || name == "job") {
            if (error) {
                *error = fmt::format("grouping label \"{}\" is not a valid label name (or is \"job\")", name);
            }
            return false;
        }
        out.emplace_back(name, item.substr(eq + 1));
    }
    return true;
}

void SeriesMap::merge(const Record& r, std::string_view prefix, const std::vector<std::string>& reserved) {
    std::vector<std::pair<std::string, std::string>> labels;
    for (const auto& t : r.tags) {
        std::string name = sanitise_label_name(t.name);
        if (std::find(reserved.begin(), reserved.end(), name) != reserved.end()) {
            name = "exported_" + name;
        }
        labels.emplace_back(std::move(name), t.value);
    }
    // The text format needs each label once; a later tag of the same
    // (sanitised) name wins.
    std::stable_sort(labels.begin(), labels.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string label_text;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i + 1 < labels.size() && labels[i + 1].first == labels[i].first) {
            continue;
        }
        if (!label_text.empty()) {
            label_text += ',';
        }
        label_text += fmt::format("{}=\"{}\"", labels[i].first, escape_label_value(labels[i].second));
    }
    const std::string measurement = r.measurement.empty() ? std::string("value") : r.measurement;
    for (const auto& f : r.fields) {
        double v = 0;
        if (const auto* d = std::get_if<double>(&f.value)) {
            v = *d;
        } else if (const auto* i = std::get_if<std::int64_t>(&f.value)) {
            v = static_cast<double>(*i);
        } else if (const auto* b = std::get_if<bool>(&f.value)) {
            v = *b ? 1.0 : 0.0;
        } else {
            continue;  // strings have no gauge value
        }
        const std::string name =
            sanitise_metric_name(prefix.empty() ? fmt::format("{}_{}", measurement, f.name)
                                                : fmt::format("{}_{}_{}", prefix, measurement, f.name));
        metrics_[name][label_text] = v;
    }
}

std::size_t SeriesMap::size() const {
    std::size_t n = 0;
    for (const auto& [name, series] : metrics_) {
        n += series.size();
    }
    return n;
}

std::string SeriesMap::exposition() const {
    std::string out;
    for (const auto& [name, series] : metrics_) {
        out += fmt::format("# HELP {} Last value pushed by sluice.\n# TYPE {} gauge\n", name, name);
        for (const auto& [labels, value] : series) {
            if (labels.empty()) {
                out += fmt::format("{} {}\n", name, format_value(value));
            } else {
                out += fmt::format("{}{{{}}} {}\n", name, labels, format_value(value));
            }
        }
    }
    return out;
}

}  // namespace sluice::pushgateway
