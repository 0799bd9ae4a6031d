#include "core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <sys/time.h>

namespace sluice::log {
namespace {

std::atomic<Level> g_level{Level::Info};

bool under_journal() {
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    return journal;
}

// syslog priorities: err=3, warning=4, info=6, debug=7
int priority(Level l) {
    switch (l) {
        case Level::Error:
            return 3;
        case Level::Warn:
            return 4;
        case Level::Info:
            return 6;
        default:
            return 7;
    }
}

const char* label(Level l) {
    switch (l) {
        case Level::Error:
            return "ERROR";
        case Level::Warn:
            return "WARN ";
        case Level::Info:
            return "INFO ";
        case Level::Debug:
            return "DEBUG";
        default:
            return "TRACE";
    }
}

}  // namespace

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }

bool parse_level(std::string_view text, Level& out) {
    static constexpr std::pair<std::string_view, Level> names[] = {
        {"error", Level::Error}, {"warn", Level::Warn},   {"warning", Level::Warn},
        {"info", Level::Info},   {"debug", Level::Debug}, {"trace", Level::Trace},
    };
    for (const auto& [n, l] : names) {
        if (n == text) {
            out = l;
            return true;
        }
    }
    return false;
}

void write(Level level, std::string_view message) {
    std::string line;
    line.reserve(message.size() + 40);
    if (under_journal()) {
        line += fmt::format("<{}>", priority(level));
    } else {
        timeval tv{};
        gettimeofday(&tv, nullptr);
        std::tm tm{};
        gmtime_r(&tv.tv_sec, &tm);
        line += fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} ", tm.tm_year + 1900, tm.tm_mon + 1,
                            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tv.tv_usec / 1000, label(level));
    }
    line += message;
    line += '\n';
    // One fwrite per line keeps lines from different threads whole.
    static std::mutex mu;
    std::lock_guard lk(mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace sluice::log
