#include "runtime/sd_notify.hpp"

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.hpp"

namespace sluice::sd {

std::optional<std::uint64_t> parse_usec(std::string_view text) {
    if (text.empty() || text.size() > 20) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

NotifyEnv notify_env_from(const char* notify_socket, const char* watchdog_usec, const char* watchdog_pid,
                          std::int64_t pid) {
    NotifyEnv env;
    if (notify_socket != nullptr) {
        env.socket = notify_socket;
    }
    if (watchdog_usec == nullptr) {
        return env;
    }
    const auto usec = parse_usec(watchdog_usec);
    if (!usec || *usec == 0) {
        return env;
    }
    if (watchdog_pid != nullptr && *watchdog_pid != '\0') {
        const auto owner = parse_usec(watchdog_pid);  // same syntax: a plain decimal number
        if (!owner || static_cast<std::int64_t>(*owner) != pid) {
            return env;
        }
    }
    env.watchdog = std::chrono::microseconds(*usec);
    return env;
}

NotifyEnv notify_env() {
    return notify_env_from(std::getenv("NOTIFY_SOCKET"), std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                           static_cast<std::int64_t>(::getpid()));
}

std::uint64_t monotonic_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

Notifier::Notifier(NotifyEnv env) : env_(std::move(env)) {
    const std::string& name = env_.socket;
    if (name.empty()) {
        return;
    }
    sockaddr_un sa{};
    if ((name[0] != '/' && name[0] != '@') || name.size() < 2 || name.size() > sizeof sa.sun_path) {
        // systemd also knows "vsock:" addresses (for virtual machines); a gateway never gets those.
        log::warn("NOTIFY_SOCKET={}: not a socket path or @abstract name; not notifying the service manager",
                  name);
        return;
    }
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, name.data(), name.size());
    if (name[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    // An abstract name's length is part of the name: no trailing NUL there.
    const std::size_t len = offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '/' ? 1 : 0);
    addr_.assign(reinterpret_cast<const char*>(&sa), std::min(len, sizeof sa));
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        log::warn("NOTIFY_SOCKET={}: cannot create a socket: {}; not notifying the service manager", name,
                  std::strerror(errno));
    }
}

Notifier::~Notifier() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool Notifier::send(std::string_view state) {
    if (fd_ < 0) {
        return false;
    }
    const ssize_t n = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(addr_.data()), static_cast<socklen_t>(addr_.size()));
    if (n == static_cast<ssize_t>(state.size())) {
        return true;
    }
    if (!warned_.exchange(true)) {
        log::warn("cannot notify the service manager at {}: {}", env_.socket,
                  n < 0 ? std::strerror(errno) : "short write");
    }
    return false;
}

namespace {

// A status is one line: the protocol separates assignments by newlines.
std::string status_assignment(std::string_view status) {
    std::string line = fmt::format("STATUS={}", status);
    for (auto& c : line) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return line;
}

std::string with_status(std::string_view head, std::string_view status) {
    if (status.empty()) {
        return std::string(head);
    }
    return fmt::format("{}\n{}", head, status_assignment(status));
}

}  // namespace

bool Notifier::ready(std::string_view status) { return send(with_status("READY=1", status)); }

bool Notifier::reloading(std::string_view status) {
    return send(with_status(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()), status));
}

bool Notifier::stopping(std::string_view status) { return send(with_status("STOPPING=1", status)); }

bool Notifier::status(std::string_view status) {
    return send(status_assignment(status));
}

bool Notifier::watchdog() { return send("WATCHDOG=1"); }

}  // namespace sluice::sd
