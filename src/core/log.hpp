#pragma once
// Logs go to stderr, one line per line of the message, each with the time
// and level (a message's detail lines never lose them). Under systemd
// (JOURNAL_STREAM set) each line starts with a <N> priority prefix and no
// timestamp, since journald adds its own. The JSON format writes one object
// per message ({"time","level","message"}), newlines escaped, for log
// collectors.

#include <atomic>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace sluice::log {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3, Trace = 4 };

enum class Format { Text, Json };

void set_level(Level level);
Level level();
bool parse_level(std::string_view text, Level& out);
void set_format(Format format);
bool parse_format(std::string_view text, Format& out);
void write(Level level, std::string_view message);
// The bytes write() puts out for one message (exposed for tests).
std::string format_line(Level level, std::string_view message, Format format, bool journal);

template <class... A>
void error(fmt::format_string<A...> f, A&&... a) {
    write(Level::Error, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
void warn(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::Warn) {
        write(Level::Warn, fmt::format(f, std::forward<A>(a)...));
    }
}
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::Info) {
        write(Level::Info, fmt::format(f, std::forward<A>(a)...));
    }
}
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) {
    if (level() >= Level::Debug) {
        write(Level::Debug, fmt::format(f, std::forward<A>(a)...));
    }
}

// A condition that repeats (a peer down, a client sending garbage) is
// logged as a warning once, then at debug level until clear() is called
// when it is over, so a bad hour does not flood the journal.
class OnceLog {
public:
    template <class... A>
    void warn(fmt::format_string<A...> f, A&&... a) {
        if (!active_) {
            active_ = true;
            log::warn(f, std::forward<A>(a)...);
        } else {
            log::debug(f, std::forward<A>(a)...);
        }
    }
    void clear() { active_ = false; }
    bool active() const { return active_; }

private:
    bool active_ = false;
};

}  // namespace sluice::log
