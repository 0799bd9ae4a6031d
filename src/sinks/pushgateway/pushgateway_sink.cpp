// Pushes the last value of every numeric field to a Prometheus Pushgateway
// as gauges. The sink keeps a map series → last value; each send() merges
// its batch into the map and pushes the whole map, at most once per
// push_interval. A batch is confirmed only once a push holding it succeeded.

#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/identity.hpp"
#include "core/log.hpp"
#include "core/url.hpp"
#include "net/http_endpoint.hpp"
#include "sinks/pushgateway/pushgateway_protocol.hpp"

namespace sluice::components {
namespace {

using namespace sluice::pushgateway;

// pushgateway://host:9091/job/<job>[/instance/<i>][/<label>/<value>...]
void pushgateway_from_url(const Url& url, RawTable& out) {
    if (url.host.empty()) {
        throw ConfigError("a pushgateway URL needs a host: pushgateway://host[:port]/job/<job>");
    }
    out.push_back(text_entry("host", url.host));
    out.push_back(text_entry("port", std::to_string(url.port != 0 ? url.port : 9091)));
    out.push_back(text_entry("tls", url.scheme == "pushgateways" ? "true" : "false"));
    if (!url.user.empty()) {
        out.push_back(text_entry("user", url.user));
    }
    if (!url.password.empty()) {
        out.push_back(text_entry("password", url.password));
    }
    std::vector<std::string> parts;
    std::string_view rest = url.path;
    while (!rest.empty()) {
        rest.remove_prefix(rest.front() == '/' ? 1 : 0);
        const auto slash = rest.find('/');
        parts.emplace_back(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    }
    while (!parts.empty() && parts.back().empty()) {
        parts.pop_back();
    }
    if (parts.size() % 2 != 0) {
        throw ConfigError("a pushgateway URL path is label/value pairs: /job/<job>[/<label>/<value>...]");
    }
    std::string grouping;
    for (std::size_t i = 0; i < parts.size(); i += 2) {
        if (parts[i] == "job" || parts[i] == "instance") {
            out.push_back(text_entry(parts[i], parts[i + 1]));
        } else {
            grouping += (grouping.empty() ? "" : ",") + parts[i] + "=" + parts[i + 1];
        }
    }
    if (!grouping.empty()) {
        out.push_back(text_entry("grouping", grouping));
    }
    for (const auto& [key, value] : url.query) {
        out.push_back(text_entry(key, value));
    }
}

class PushgatewaySink final : public Sink {
public:
    explicit PushgatewaySink(const Options& o)
        : prefix_(o.str("prefix")),
          method_(o.str("method") == "post" ? "POST" : "PUT"),
          interval_(o.duration("push_interval")),
          delete_on_shutdown_(o.boolean("delete_on_shutdown")),
          endpoint_(o, "pushgateway") {
        std::string instance = o.str_or("instance", "");
        if (instance.empty()) {
            instance = gateway_id();
        }
        std::vector<std::pair<std::string, std::string>> labels{{"instance", instance}};
        std::string err;
        std::vector<std::string> grouping = o.list_or_empty("grouping");
        if (!parse_grouping(grouping, labels, &err)) {
            throw ConfigError(err);
        }
        for (std::size_t i = 1; i < labels.size(); ++i) {
            if (labels[i].first == "instance") {
                throw ConfigError("set the instance label with the `instance` option, not in `grouping`");
            }
        }
        reserved_.push_back("job");
        for (const auto& l : labels) {
            reserved_.push_back(l.first);
        }
        path_ = grouping_path(o.str("job"), labels);
    }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        endpoint_.open(name_);
    }

    SendResult send(std::span<const Record> batch) override {
        SendResult result;
        // The interval bounds the push rate; while we wait the runtime keeps
        // buffering, so the next batch simply carries more records.
        if (pushed_once_) {
            const auto since = std::chrono::steady_clock::now() - last_push_;
            if (since < interval_) {
                std::this_thread::sleep_for(interval_ - since);
            }
        }
        SeriesMap next = series_;
        for (const auto& r : batch) {
            next.merge(r, prefix_, reserved_);
        }
        if (next.empty()) {
            result.confirmed = batch.size();  // nothing numeric: nothing to push
            return result;
        }
        net::HttpHeaders h = endpoint_.headers();
        h.emplace_back("Content-Type", "text/plain; version=0.0.4");
        std::string err;
        auto resp = endpoint_.request(method_, path_, h, next.exposition(), &err);
        last_push_ = std::chrono::steady_clock::now();
        pushed_once_ = true;
        if (!resp) {
            result.error = err;
            return result;
        }
        if (resp->status / 100 == 2) {
            series_ = std::move(next);
            result.confirmed = batch.size();
            return result;
        }
        const std::string why = fmt::format("pushgateway answered HTTP {} to {} {}: {}", resp->status, method_, path_,
                                            first_line(resp->body));
        if (resp->status == 400) {
            // The data itself was refused (e.g. a clash with metrics another
            // job pushed): dead-letter this batch and keep the map as it was,
            // so one bad record does not block the sink for ever.
            result.confirmed = batch.size();
            for (std::size_t i = 0; i < batch.size(); ++i) {
                result.rejected.emplace_back(i, why);
            }
            return result;
        }
        result.error = why;
        return result;
    }

    bool healthy(std::string& reason) override { return endpoint_.healthy("/-/healthy", reason); }

    void close() override {
        if (delete_on_shutdown_ && endpoint_.opened()) {
            std::string err;
            auto resp = endpoint_.request("DELETE", path_, endpoint_.headers(), "", &err);
            if (!resp) {
                log::warn("{}: deleting the group {} failed: {}", name_, path_, err);
            } else if (resp->status / 100 != 2) {
                log::warn("{}: deleting the group {} failed: HTTP {}", name_, path_, resp->status);
            } else {
                log::info("{}: deleted the group {}", name_, path_);
            }
        }
        endpoint_.close();
    }

private:
    static std::string first_line(const std::string& body) {
        std::string line = body.substr(0, body.find('\n'));
        if (line.size() > 300) {
            line.resize(300);
        }
        return line;
    }

    std::string prefix_;
    std::string method_;
    std::chrono::nanoseconds interval_;
    bool delete_on_shutdown_;
    std::vector<std::string> reserved_;
    std::string path_;
    net::HttpEndpoint endpoint_;
    std::string name_ = "pushgateway";
    SeriesMap series_;
    std::chrono::steady_clock::time_point last_push_{};
    bool pushed_once_ = false;
};

}  // namespace

const Descriptor& sink_pushgateway() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "pushgateway",
        .summary = "Pushes the last value of each numeric field to a Prometheus Pushgateway as gauges",
        .delivery = Delivery::BestEffort,
        .loss_window = "Only the latest value per series is pushed (earlier values of a batch are never seen), and "
                       "the Pushgateway keeps it in memory unless it runs with persistence. An unconfirmed batch is "
                       "pushed again after a crash, but with `method = \"put\"` the group then holds only the series "
                       "seen since the restart.",
        .options = net::http_sink_options(
            {
                {.name = "host", .type = OptionType::String, .default_value = "127.0.0.1",
                 .doc = "Pushgateway host name or address", .min = 1, .max = 253},
                {.name = "port", .type = OptionType::Int, .default_value = "9091", .doc = "Pushgateway port",
                 .min = 1, .max = 65535},
                {.name = "tls", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Use HTTPS (pushgateways:// URLs turn this on)"},
                {.name = "job", .type = OptionType::String, .doc = "The job label of the grouping key",
                 .required = true, .min = 1, .max = 255},
                {.name = "instance", .type = OptionType::String, .default_value = "",
                 .doc = "The instance label of the grouping key (empty: the gateway's id)", .max = 255},
                {.name = "grouping", .type = OptionType::List,
                 .doc = "Extra grouping-key labels as label=value (values with '/' or empty go base64)", .max = 32},
                {.name = "method", .type = OptionType::Enum, .default_value = "put",
                 .doc = "put replaces the whole group on each push; post merges by metric name",
                 .choices = "put|post"},
                {.name = "prefix", .type = OptionType::String, .default_value = "sluice",
                 .doc = "Metric names are <prefix>_<measurement>_<field> (empty: no prefix)", .max = 100},
                {.name = "push_interval", .type = OptionType::Duration, .default_value = "10s",
                 .doc = "Minimum time between pushes; records arriving meanwhile wait in the buffer",
                 .min = 0, .max = 86400},
                {.name = "delete_on_shutdown", .type = OptionType::Bool, .default_value = "false",
                 .doc = "DELETE the grouping key's metrics when sluice stops"},
            },
            {
                {.name = "timeout", .type = OptionType::Duration, .default_value = "10s",
                 .doc = "Time limit for the pushgateway's answer", .min = 0.001, .max = 3600},
            }),
        .url_schemes = {"pushgateway", "pushgateways"},
        .from_url = pushgateway_from_url,
        .url_example = "pushgateway://host:9091/job/sluice",
        .make_sink = [](const Options& o) { return std::make_unique<PushgatewaySink>(o); },
    };
    return d;
}

}  // namespace sluice::components
