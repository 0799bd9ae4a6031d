#pragma once
// The service manager's notification protocol (sd_notify(3)) without
// libsystemd, which has no static archive: datagrams such as "READY=1" or
// "WATCHDOG=1" sent to the AF_UNIX socket named by $NOTIFY_SOCKET. Outside
// systemd (no $NOTIFY_SOCKET) every call does nothing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::sd {

// What the service manager asked for, read from the environment.
struct NotifyEnv {
    std::string socket;                    // $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace
    std::chrono::microseconds watchdog{};  // $WATCHDOG_USEC, 0 when unset or meant for another process
};

// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (the watchdog applies
// only when WATCHDOG_PID is unset or names `pid`). A malformed value counts
// as unset.
NotifyEnv notify_env_from(const char* notify_socket, const char* watchdog_usec, const char* watchdog_pid,
                          std::int64_t pid);
NotifyEnv notify_env();

// "123456": WATCHDOG_USEC and MONOTONIC_USEC syntax (decimal, no sign, no
// blanks); nullopt if `text` is anything else.
std::optional<std::uint64_t> parse_usec(std::string_view text);

// CLOCK_MONOTONIC in microseconds, for "MONOTONIC_USEC=" in a reload notice.
std::uint64_t monotonic_usec();

class Notifier {
public:
    Notifier() = default;  // disabled
    explicit Notifier(NotifyEnv env);
    ~Notifier();
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;

    static Notifier from_environment() { return Notifier(notify_env()); }

    bool enabled() const { return fd_ >= 0; }
    // 0 when the service manager runs no watchdog for this process.
    std::chrono::microseconds watchdog_interval() const { return enabled() ? env_.watchdog : std::chrono::microseconds{}; }

    // Sends one notification: newline-separated KEY=VALUE assignments. Never
    // blocks; false if it could not be sent (the reason is logged once).
    // Thread-safe.
    bool send(std::string_view state);

    // The usual notifications.
    bool ready(std::string_view status);
    bool reloading(std::string_view status);
    bool stopping(std::string_view status);
    bool status(std::string_view status);
    bool watchdog();

private:
    NotifyEnv env_;
    int fd_ = -1;
    std::string addr_;  // sockaddr_un bytes, '@' already turned into the leading NUL
    std::atomic<bool> warned_{false};
};

}  // namespace sluice::sd
