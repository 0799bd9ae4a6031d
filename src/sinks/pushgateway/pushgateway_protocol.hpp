#pragma once
// The pure parts of the pushgateway sink: grouping-key paths, metric and
// label names, and the text exposition body. No I/O, so unit tests reach it.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/record.hpp"

namespace sluice::pushgateway {

// [a-zA-Z_:][a-zA-Z0-9_:]* (label names: no ':'); other characters become
// '_', a leading digit gets a '_' in front.
std::string sanitise_metric_name(std::string_view s);
std::string sanitise_label_name(std::string_view s);
// Backslash, double quote and newline escaped as the text format requires.
std::string escape_label_value(std::string_view s);

// URL-safe base64 with padding, as the pushgateway's "@base64" suffix wants.
std::string base64url(std::string_view s);

// /metrics/job/<job>[/<label>/<value>...]: values holding '/' or empty are
// written as <label>@base64/<b64>, others percent-encoded.
std::string grouping_path(std::string_view job, const std::vector<std::pair<std::string, std::string>>& labels);

// "name=value" entries of the `grouping` option; false (with error) on a
// malformed one.
bool parse_grouping(const std::vector<std::string>& items, std::vector<std::pair<std::string, std::string>>& out,
                    std::string* error);

// The last value of each series.
class SeriesMap {
public:
    // Labels with the names of grouping labels are renamed exported_<name>,
    // since the pushgateway refuses pushes whose labels clash with the group.
    void merge(const Record& r, std::string_view prefix, const std::vector<std::string>& reserved);
    std::string exposition() const;  // # HELP / # TYPE lines, no timestamps
    std::size_t size() const;
    bool empty() const { return metrics_.empty(); }

private:
    // metric → label text ("a=\"1\",b=\"2\"") → value
    std::map<std::string, std::map<std::string, double>> metrics_;
};

}  // namespace sluice::pushgateway
