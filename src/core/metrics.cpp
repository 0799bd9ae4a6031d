#include "core/metrics.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

namespace sluice {

struct MetricsRegistry::Series {
    enum class Type { Counter, Gauge, GaugeFn };
    std::string name;
    std::string help;
    Type type;
    Labels labels;
    Counter counter;
    Gauge gauge;
    std::function<double()> fn;
    std::uint64_t fn_id = 0;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

void Gauge::add(double d) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
}

GaugeFnHandle& GaugeFnHandle::operator=(GaugeFnHandle&& o) noexcept {
    if (this != &o) {
        if (id_ != 0) {
            metrics().remove_fn(id_);
        }
        id_ = std::exchange(o.id_, 0);
    }
    return *this;
}

GaugeFnHandle::~GaugeFnHandle() {
    if (id_ != 0) {
        metrics().remove_fn(id_);
    }
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const Labels& labels) {
    std::lock_guard lk(mu_);
    for (auto& s : series_) {
        if (s->type == Series::Type::Counter && s->name == name && s->labels == labels) {
            return s->counter;
        }
    }
    auto s = std::make_unique<Series>();
    s->name = name;
    s->help = help;
    s->type = Series::Type::Counter;
    s->labels = labels;
    series_.push_back(std::move(s));
    return series_.back()->counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
    std::lock_guard lk(mu_);
    for (auto& s : series_) {
        if (s->type == Series::Type::Gauge && s->name == name && s->labels == labels) {
            return s->gauge;
        }
    }
    auto s = std::make_unique<Series>();
    s->name = name;
    s->help = help;
    s->type = Series::Type::Gauge;
    s->labels = labels;
    series_.push_back(std::move(s));
    return series_.back()->gauge;
}

GaugeFnHandle MetricsRegistry::gauge_fn(std::string_view name, std::string_view help, const Labels& labels,
                                        std::function<double()> fn) {
    std::lock_guard lk(mu_);
    auto s = std::make_unique<Series>();
    s->name = name;
    s->help = help;
    s->type = Series::Type::GaugeFn;
    s->labels = labels;
    s->fn = std::move(fn);
    s->fn_id = next_fn_id_++;
    const auto id = s->fn_id;
    series_.push_back(std::move(s));
    return GaugeFnHandle(id);
}

void MetricsRegistry::remove_fn(std::uint64_t id) {
    std::lock_guard lk(mu_);
    std::erase_if(series_, [&](const auto& s) { return s->type == Series::Type::GaugeFn && s->fn_id == id; });
}

namespace {

void append_escaped_label(std::string& out, std::string_view v) {
    for (char c : v) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
}

void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else if (v == std::floor(v) && std::fabs(v) < 1e15) {
        out += fmt::format("{}", static_cast<std::int64_t>(v));
    } else {
        out += fmt::format("{}", v);
    }
}

}  // namespace

std::string MetricsRegistry::render() const {
    std::lock_guard lk(mu_);
    // Group series by name, in the order names were first registered.
    std::vector<std::string_view> order;
    std::map<std::string_view, std::vector<const Series*>> by_name;
    for (const auto& s : series_) {
        auto& v = by_name[s->name];
        if (v.empty()) {
            order.push_back(s->name);
        }
        v.push_back(s.get());
    }
    std::string out;
    out.reserve(series_.size() * 96);
    for (auto name : order) {
        const auto& group = by_name[name];
        const Series* first = group.front();
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, first->help, name,
                           first->type == Series::Type::Counter ? "counter" : "gauge");
        for (const auto* s : group) {
            out += name;
            if (!s->labels.empty()) {
                out += '{';
                bool comma = false;
                for (const auto& [k, v] : s->labels) {
                    if (comma) {
                        out += ',';
                    }
                    comma = true;
                    out += k;
                    out += "=\"";
                    append_escaped_label(out, v);
                    out += '"';
                }
                out += '}';
            }
            out += ' ';
            switch (s->type) {
                case Series::Type::Counter:
                    out += fmt::format("{}", s->counter.value());
                    break;
                case Series::Type::Gauge:
                    append_value(out, s->gauge.value());
                    break;
                case Series::Type::GaugeFn:
                    append_value(out, s->fn());
                    break;
            }
            out += '\n';
        }
    }
    return out;
}

std::uint64_t MetricsRegistry::counter_total(std::string_view name) const {
    std::lock_guard lk(mu_);
    std::uint64_t total = 0;
    for (const auto& s : series_) {
        if (s->type == Series::Type::Counter && s->name == name) {
            total += s->counter.value();
        }
    }
    return total;
}

MetricsRegistry& metrics() {
    static MetricsRegistry* registry = new MetricsRegistry();  // never destroyed: used until exit
    return *registry;
}

ComponentMetrics ComponentMetrics::for_component(const std::string& component, std::string_view kind) {
    Labels labels{{"component", component}, {"kind", std::string(kind)}};
    auto& m = metrics();
    ComponentMetrics cm;
    cm.received = &m.counter("sluice_component_received_records_total", "Records (or frames, for sources) received",
                             labels);
    cm.sent = &m.counter("sluice_component_sent_records_total", "Records passed on or confirmed by the far side",
                         labels);
    cm.errors = &m.counter("sluice_component_errors_total", "Errors (failed reads, sends, reconnects)", labels);
    cm.dropped = &m.counter("sluice_component_dropped_records_total", "Records dropped (overflow, policy)", labels);
    cm.received_bytes = &m.counter("sluice_component_received_bytes_total", "Bytes received", labels);
    cm.reconnects = &m.counter("sluice_component_reconnects_total", "Connections re-established", labels);
    cm.last_seen = &m.gauge("sluice_component_last_seen_seconds", "Unix time of the last frame received", labels);
    return cm;
}

}  // namespace sluice
