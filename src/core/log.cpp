#include "core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <sys/time.h>

#include "core/record_json.hpp"

namespace sluice::log {
namespace {

std::atomic<Level> g_level{Level::Info};
std::atomic<Format> g_format{Format::Text};

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

const char* json_label(Level l) {
    switch (l) {
        case Level::Error:
            return "error";
        case Level::Warn:
            return "warn";
        case Level::Info:
            return "info";
        case Level::Debug:
            return "debug";
        default:
            return "trace";
    }
}

// "2026-12-05T02:43:05.123Z"
std::string now_utc() {
    timeval tv{};
    gettimeofday(&tv, nullptr);
    std::tm tm{};
    gmtime_r(&tv.tv_sec, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, tv.tv_usec / 1000);
}

}  // namespace

void set_format(Format format) { g_format.store(format, std::memory_order_relaxed); }

bool parse_format(std::string_view text, Format& out) {
    if (text == "text") {
        out = Format::Text;
    } else if (text == "json") {
        out = Format::Json;
    } else {
        return false;
    }
    return true;
}

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

std::string format_line(Level level, std::string_view message, Format format, bool journal) {
    std::string out;
    out.reserve(message.size() + 48);
    if (format == Format::Json) {
        if (journal) {
            out += fmt::format("<{}>", priority(level));
        }
        out += "{\"time\":\"";
        out += now_utc();
        out += "\",\"level\":\"";
        out += json_label(level);
        out += "\",\"message\":";
        append_json_string(out, message);
        out += "}\n";
        return out;
    }
    const std::string prefix =
        journal ? fmt::format("<{}>", priority(level)) : fmt::format("{} {} ", now_utc(), label(level));
    // Every line of a multi-line message carries the prefix, so grep, the
    // journal's priority filter and log shippers see each one whole.
    std::size_t start = 0;
    for (;;) {
        const auto nl = message.find('\n', start);
        out += prefix;
        out += message.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        out += '\n';
        if (nl == std::string_view::npos || nl + 1 == message.size()) {
            break;
        }
        start = nl + 1;
    }
    return out;
}

void write(Level level, std::string_view message) {
    const std::string line = format_line(level, message, g_format.load(std::memory_order_relaxed), under_journal());
    // One fwrite per message keeps lines from different threads whole.
    static std::mutex mu;
    std::lock_guard lk(mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace sluice::log
