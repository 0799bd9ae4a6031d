#include "core/metrics.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

namespace sluice {

struct MetricsRegistry::Series {
    enum class Type { Counter, Gauge, GaugeFn, CounterFn, Histogram };
    std::string name;
    std::string help;
    Type type;
    Labels labels;
    Counter counter;
    Gauge gauge;
    std::function<double()> fn;
    std::uint64_t fn_id = 0;
    std::unique_ptr<sluice::Histogram> histogram;
};

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size()]) {
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        counts_[i].store(0, std::memory_order_relaxed);
    }
}

void Histogram::observe(double v, std::uint64_t n) {
    if (n == 0) {
        return;
    }
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        if (v <= bounds_[i]) {
            counts_[i].fetch_add(n, std::memory_order_relaxed);
            break;
        }
    }
    count_.fetch_add(n, std::memory_order_relaxed);
    const double add = v * static_cast<double>(n);
    double cur = sum_.load(std::memory_order_relaxed);
    while (!sum_.compare_exchange_weak(cur, cur + add, std::memory_order_relaxed)) {
    }
}

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

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                                      std::vector<double> bounds) {
    std::lock_guard lk(mu_);
    for (auto& s : series_) {
        if (s->type == Series::Type::Histogram && s->name == name && s->labels == labels) {
            return *s->histogram;
        }
    }
    if (bounds.empty()) {
        bounds = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
    }
    auto s = std::make_unique<Series>();
    s->name = name;
    s->help = help;
    s->type = Series::Type::Histogram;
    s->labels = labels;
    s->histogram = std::make_unique<sluice::Histogram>(std::move(bounds));
    series_.push_back(std::move(s));
    return *series_.back()->histogram;
}

GaugeFnHandle MetricsRegistry::gauge_fn(std::string_view name, std::string_view help, const Labels& labels,
                                        std::function<double()> fn) {
    return computed(name, help, labels, std::move(fn), false);
}

GaugeFnHandle MetricsRegistry::counter_fn(std::string_view name, std::string_view help, const Labels& labels,
                                          std::function<double()> fn) {
    return computed(name, help, labels, std::move(fn), true);
}

GaugeFnHandle MetricsRegistry::computed(std::string_view name, std::string_view help, const Labels& labels,
                                        std::function<double()> fn, bool counter) {
    std::lock_guard lk(mu_);
    auto s = std::make_unique<Series>();
    s->name = name;
    s->help = help;
    s->type = counter ? Series::Type::CounterFn : Series::Type::GaugeFn;
    s->labels = labels;
    s->fn = std::move(fn);
    s->fn_id = next_fn_id_++;
    const auto id = s->fn_id;
    series_.push_back(std::move(s));
    return GaugeFnHandle(id);
}

void MetricsRegistry::remove_fn(std::uint64_t id) {
    std::lock_guard lk(mu_);
    std::erase_if(series_, [&](const auto& s) {
        return (s->type == Series::Type::GaugeFn || s->type == Series::Type::CounterFn) && s->fn_id == id;
    });
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

void append_labels(std::string& out, const Labels& labels, std::string_view extra_key = {},
                   std::string_view extra_value = {}) {
    if (labels.empty() && extra_key.empty()) {
        return;
    }
    out += '{';
    bool comma = false;
    for (const auto& [k, v] : labels) {
        if (comma) {
            out += ',';
        }
        comma = true;
        out += k;
        out += "=\"";
        append_escaped_label(out, v);
        out += '"';
    }
    if (!extra_key.empty()) {
        if (comma) {
            out += ',';
        }
        out += extra_key;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
}

void render_histogram(std::string& out, std::string_view name, const Labels& labels, const Histogram& h) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < h.bounds().size(); ++i) {
        cumulative += h.bucket(i);
        std::string le;
        append_value(le, h.bounds()[i]);
        out += name;
        out += "_bucket";
        append_labels(out, labels, "le", le);
        out += fmt::format(" {}\n", cumulative);
    }
    out += name;
    out += "_bucket";
    append_labels(out, labels, "le", "+Inf");
    out += fmt::format(" {}\n", h.count());
    out += name;
    out += "_sum";
    append_labels(out, labels);
    out += ' ';
    append_value(out, h.sum());
    out += '\n';
    out += name;
    out += "_count";
    append_labels(out, labels);
    out += fmt::format(" {}\n", h.count());
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
        const char* type = first->type == Series::Type::Counter || first->type == Series::Type::CounterFn
                               ? "counter"
                           : first->type == Series::Type::Histogram ? "histogram"
                                                                    : "gauge";
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, first->help, name, type);
        for (const auto* s : group) {
            if (s->type == Series::Type::Histogram) {
                render_histogram(out, name, s->labels, *s->histogram);
                continue;
            }
            out += name;
            append_labels(out, s->labels);
            out += ' ';
            switch (s->type) {
                case Series::Type::Counter:
                    out += fmt::format("{}", s->counter.value());
                    break;
                case Series::Type::Gauge:
                    append_value(out, s->gauge.value());
                    break;
                case Series::Type::GaugeFn:
                case Series::Type::CounterFn:
                    append_value(out, s->fn());
                    break;
                case Series::Type::Histogram:
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
    // A family a kind has no use for is not registered (no series that is
    // always zero): its pointer goes to a counter that is never rendered.
    static Counter unused_counter;
    static Gauge unused_gauge;
    ComponentMetrics cm;
    cm.received = &unused_counter;
    cm.sent = &unused_counter;
    cm.dropped = &unused_counter;
    cm.received_bytes = &unused_counter;
    cm.reconnects = &unused_counter;
    cm.last_seen = &unused_gauge;
    const bool source = kind == "source";
    const bool stage = kind == "stage";
    const bool sink = kind == "sink";
    cm.errors = &m.counter("sluice_component_errors_total",
                           "Failures of a component: sources' failed reads, connects and undecodable frames, "
                           "stages' failed batches and values they could not compute, sinks' failed sends and "
                           "buffer operations (each retried or dead-lettered, never lost silently)",
                           labels);
    if (source || stage) {
        cm.received = &m.counter("sluice_component_received_records_total",
                                 "Sources: frames read from the outside and handed to the ingest queue; stages: "
                                 "records that entered the stage",
                                 labels);
        cm.dropped = &m.counter("sluice_component_dropped_records_total",
                                "Sources: frames dropped before the ingest queue (device overruns, a full queue a "
                                "best-effort source does not wait for); stages: records a stage discarded by its "
                                "own rule (no group, no match)",
                                labels);
    }
    if (stage || sink) {
        cm.sent = &m.counter("sluice_component_sent_records_total",
                             "Stages: records that left the stage for the next step; sinks: records the far side "
                             "confirmed (the cursor moved past them)",
                             labels);
    }
    if (source || sink) {
        cm.reconnects = &m.counter("sluice_component_reconnects_total",
                                   "Connections to a broker, publisher, device or far side re-established after "
                                   "being lost",
                                   labels);
    }
    if (source) {
        cm.received_bytes = &m.counter("sluice_component_received_bytes_total",
                                       "Payload bytes of the frames a source read", labels);
        cm.last_seen = &m.gauge("sluice_component_last_seen_seconds",
                                "Unix time of the last frame a source read (0: none yet)", labels);
    }
    return cm;
}

}  // namespace sluice
