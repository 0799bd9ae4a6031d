#pragma once
// A registry of fake components for the config tests and fuzz targets. Only
// the descriptors matter here (names, option tables, URL mapping); nothing is
// ever built from them, so the tests do not depend on the real components.

#include <string>

#include "core/registry.hpp"
#include "core/url.hpp"

namespace sluice::testing {

inline const Registry& config_test_registry() {
    static const Registry registry = [] {
        static const Descriptor file_source{
            .kind = Kind::Source,
            .name = "file",
            .summary = "Reads lines from a file and follows it as it grows.",
            .options =
                {
                    {.name = "path", .type = OptionType::String, .doc = "The file to read.", .required = true, .min = 1},
                    {.name = "follow", .type = OptionType::Bool, .default_value = "true", .doc = "Keep reading."},
                    {.name = "poll", .type = OptionType::Duration, .default_value = "1s", .doc = "Poll interval.",
                     .min = 0.01, .max = 3600},
                    {.name = "max_line", .type = OptionType::Size, .default_value = "1MiB", .doc = "Longest line.",
                     .min = 16, .max = 64 * 1024 * 1024},
                },
            .url_schemes = {"file"},
            .url_path_option = "path",
            .url_example = "file:///var/log/sensors.log?decode=json",
        };
        static const Descriptor stdin_source{
            .kind = Kind::Source,
            .name = "stdin",
            .summary = "Reads lines from standard input.",
            .url_schemes = {"stdin"},
        };
        static const Descriptor mqtt_source{
            .kind = Kind::Source,
            .name = "mqtt",
            .summary = "Subscribes to MQTT topics.",
            .options =
                {
                    {.name = "host", .type = OptionType::String, .default_value = "localhost", .doc = "Broker."},
                    {.name = "port", .type = OptionType::Int, .default_value = "1883", .doc = "Port.", .min = 1,
                     .max = 65535},
                    {.name = "user", .type = OptionType::String, .doc = "User name."},
                    {.name = "password", .type = OptionType::Secret, .doc = "Password."},
                    {.name = "topics", .type = OptionType::List, .doc = "Topic filters.", .required = true, .min = 1},
                    {.name = "qos", .type = OptionType::Int, .default_value = "0", .doc = "QoS.", .min = 0, .max = 2},
                },
            .url_schemes = {"mqtt", "mqtts"},
            .from_url =
                [](const Url& url, RawTable& out) {
                    auto add = [&](std::string key, std::string value) {
                        RawEntry e;
                        e.key = std::move(key);
                        e.value.v = std::move(value);
                        e.value.from_text = true;
                        out.push_back(std::move(e));
                    };
                    if (!url.host.empty()) {
                        add("host", url.host);
                    }
                    if (url.port != 0) {
                        add("port", std::to_string(url.port));
                    }
                    if (!url.password.empty()) {
                        add("password", url.password);
                    }
                    if (url.path.size() > 1) {
                        add("topics", url.path.substr(1));
                    }
                    for (const auto& [k, v] : url.query) {
                        add(k, v);
                    }
                },
            .url_example = "mqtt://broker:1883/sensors/%23",
        };
        static const Descriptor simulate_source{
            .kind = Kind::Source,
            .name = "simulate",
            .summary = "Generates sensor-like readings.",
            .options =
                {
                    {.name = "rate", .type = OptionType::Float, .default_value = "1", .doc = "Records per second.",
                     .min = 0.001, .max = 1e6},
                    {.name = "count", .type = OptionType::Int, .default_value = "0", .doc = "0: unbounded.", .min = 0},
                    {.name = "sensors", .type = OptionType::List, .default_value = "temperature,humidity,pressure",
                     .doc = "Sensor names.", .min = 1},
                    {.name = "shape", .type = OptionType::Enum, .default_value = "sine", .doc = "Signal shape.",
                     .choices = "sine|random_walk|steps"},
                },
        };
        static const Descriptor json_decoder{.kind = Kind::Decoder, .name = "json", .summary = "JSON objects."};
        static const Descriptor influx_decoder{
            .kind = Kind::Decoder,
            .name = "influx",
            .summary = "InfluxDB line protocol.",
            .options = {{.name = "precision", .type = OptionType::Enum, .default_value = "ns", .doc = "Time unit.",
                         .choices = "ns|us|ms|s"}},
        };
        static const Descriptor logfmt_decoder{.kind = Kind::Decoder, .name = "logfmt", .summary = "key=value."};
        static const Descriptor scalar_decoder{.kind = Kind::Decoder, .name = "scalar", .summary = "One number."};
        static const Descriptor csv_decoder{
            .kind = Kind::Decoder,
            .name = "csv",
            .summary = "Delimited text.",
            .options =
                {
                    {.name = "columns", .type = OptionType::List, .doc = "Column names.", .required = true, .min = 1},
                    {.name = "separator", .type = OptionType::String, .default_value = ",", .doc = "Separator.",
                     .min = 1, .max = 1},
                    {.name = "header", .type = OptionType::Bool, .default_value = "false", .doc = "Skip line 1."},
                },
        };
        static const Descriptor filter_stage{
            .kind = Kind::Stage,
            .name = "filter",
            .summary = "Drops records.",
            .options = {{.name = "expr", .type = OptionType::String, .doc = "Condition.", .required = true}},
        };
        static const Descriptor window_stage{
            .kind = Kind::Stage,
            .name = "window",
            .summary = "Aggregates over time windows.",
            .options = {{.name = "period", .type = OptionType::Duration, .doc = "Window length.", .required = true,
                         .min = 1}},
        };
        static const Descriptor stdout_sink{
            .kind = Kind::Sink,
            .name = "stdout",
            .summary = "Prints records.",
            .delivery = Delivery::AtLeastOnce,
            .options = {{.name = "format", .type = OptionType::Enum, .default_value = "json", .doc = "Output format.",
                         .choices = "json|influx"}},
            .url_schemes = {"stdout"},
            .url_example = "stdout:?format=influx",
        };
        static const Descriptor file_sink{
            .kind = Kind::Sink,
            .name = "file",
            .summary = "Appends records to a file.",
            .options =
                {
                    {.name = "path", .type = OptionType::String, .doc = "Output file.", .required = true},
                    {.name = "max_size", .type = OptionType::Size, .default_value = "64MiB", .doc = "Rotate size."},
                    {.name = "max_files", .type = OptionType::Int, .default_value = "5", .doc = "Files kept.",
                     .min = 1},
                },
            .url_schemes = {"file"},
            .url_path_option = "path",
            .url_example = "file:///tmp/out.ndjson",
        };
        static const Descriptor http_sink{
            .kind = Kind::Sink,
            .name = "http",
            .summary = "POSTs records.",
            .options =
                {
                    {.name = "url", .type = OptionType::String, .doc = "Endpoint.", .required = true},
                    {.name = "token", .type = OptionType::Secret, .doc = "Bearer token.", .min = 8},
                },
        };
        Registry r;
        for (const Descriptor* d : {&file_source, &stdin_source, &mqtt_source, &simulate_source, &json_decoder,
                                    &influx_decoder, &logfmt_decoder, &scalar_decoder, &csv_decoder, &filter_stage,
                                    &window_stage, &stdout_sink, &file_sink, &http_sink}) {
            r.add(*d);
        }
        return r;
    }();
    return registry;
}

// The registry above plus components whose options link to tables and
// streams under names unlike any real component's: tables and streams are
// found through OptionSpec::link, never through option names.
inline const Registry& config_links_test_registry() {
    static const Registry registry = [] {
        static const Descriptor lookup_stage{
            .kind = Kind::Stage,
            .name = "lookup",
            .summary = "Looks records up in a table.",
            .options =
                {
                    {.name = "lookup_table", .type = OptionType::String, .doc = "The table.", .required = true,
                     .min = 1, .link = OptionLink::ReadsTable},
                    {.name = "misses", .type = OptionType::String, .doc = "Stream for records not found.",
                     .link = OptionLink::EmitsStream},
                },
        };
        static const Descriptor bus_source{
            .kind = Kind::Source,
            .name = "bus",
            .summary = "Reads a named stream.",
            .delivery = Delivery::BestEffort,
            .loss_window = "Records in flight are lost on a crash.",
            .options = {{.name = "from", .type = OptionType::String, .doc = "The stream.", .required = true,
                         .min = 1, .link = OptionLink::ConsumesStream}},
        };
        Registry r;
        for (const Descriptor* d : config_test_registry().all()) {
            r.add(*d);
        }
        r.add(lookup_stage);
        r.add(bus_source);
        return r;
    }();
    return registry;
}

}  // namespace sluice::testing
