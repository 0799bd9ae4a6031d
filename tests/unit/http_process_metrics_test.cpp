#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>

#include "core/metrics.hpp"
#include "http/process_metrics.hpp"

namespace sluice::http {
namespace {

// The value of an unlabelled series in the rendered text; -1 if absent.
double series_value(const std::string& text, std::string_view name) {
    const std::string key = "\n" + std::string(name) + " ";
    const auto pos = text.find(key);
    if (pos == std::string::npos) {
        return -1;
    }
    return std::strtod(text.c_str() + pos + key.size(), nullptr);
}

TEST(ProcessMetrics, RegistersWhileAlive) {
    std::string text;
    {
        ProcessMetrics pm;
        text = "\n" + metrics().render();
        EXPECT_GT(series_value(text, "process_resident_memory_bytes"), 1024.0 * 1024.0);
        EXPECT_GT(series_value(text, "process_virtual_memory_bytes"), 1024.0 * 1024.0);
        EXPECT_GE(series_value(text, "process_cpu_seconds_total"), 0.0);
        EXPECT_GE(series_value(text, "process_open_fds"), 3.0);  // stdin, stdout, stderr at least
        EXPECT_GE(series_value(text, "process_max_fds"), 0.0);
        EXPECT_GE(series_value(text, "process_threads"), 1.0);
        const double started = series_value(text, "process_start_time_seconds");
        const double now = static_cast<double>(std::time(nullptr));
        // Started in the past, and not before 2020: proves btime was found.
        EXPECT_LE(started, now + 1);
        EXPECT_GT(started, 1577836800.0);
        EXPECT_NE(text.find("# TYPE process_threads gauge"), std::string::npos);
    }
    text = "\n" + metrics().render();
    EXPECT_EQ(text.find("process_resident_memory_bytes"), std::string::npos);
}

TEST(ProcessMetrics, RssHelpers) {
    const auto now = current_rss_bytes();
    const auto peak = peak_rss_bytes();
    EXPECT_GT(now, 0u);
    EXPECT_GT(peak, 0u);
    // VmHWM is sampled by the kernel lazily; allow a page of slack.
    EXPECT_GE(peak + 4096 * 16, now);
}

}  // namespace
}  // namespace sluice::http
