#include "sources/unix/socket.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <utility>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

namespace sluice::unixsock {

namespace {

int sock_type(SocketType t) { return t == SocketType::Stream ? SOCK_STREAM : SOCK_DGRAM; }

// Closes an fd on every early return.
class FdGuard {
public:
    explicit FdGuard(int fd) : fd_(fd) {}
    ~FdGuard() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    FdGuard(const FdGuard&) = delete;
    FdGuard& operator=(const FdGuard&) = delete;
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }

private:
    int fd_;
};

sockaddr_un address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    return a;
}

// Whether a process is bound to the socket file at `path`. Error text on a
// failure that says neither.
struct Probe {
    bool live = false;
    std::string error;
};

Probe probe(const std::string& path, SocketType type) {
    FdGuard fd(::socket(AF_UNIX, sock_type(type) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        return {false, fmt::format("socket(): {}", std::strerror(errno))};
    }
    const sockaddr_un a = address(path);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
        return {true, {}};
    }
    switch (errno) {
        case ECONNREFUSED:
            return {false, {}};  // the file is left over from a process that is gone
        case EAGAIN:             // a listener with a full backlog
        case EINPROGRESS:
        case EPROTOTYPE:  // bound by a live socket of the other type
            return {true, {}};
        default:
            return {false, fmt::format("cannot check whether {} is in use: {}", path, std::strerror(errno))};
    }
}

}  // namespace

void BoundSocket::close() {
    if (fd_ < 0) {
        return;
    }
    ::close(fd_);
    fd_ = -1;
    // Someone may have replaced the file since (another instance after a
    // stale-socket check of its own); their socket is not ours to remove.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
        ::unlink(path_.c_str());
    }
}

BindResult bind_socket(const BindOptions& o) {
    BindResult r;
    if (o.path.empty()) {
        r.error = "the socket path is empty";
        return r;
    }
    if (o.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
        r.error = fmt::format("socket path {} is too long ({} bytes; Unix sockets allow at most {})", o.path,
                              o.path.size(), sizeof(sockaddr_un{}.sun_path) - 1);
        return r;
    }
    struct stat st {};
    if (::lstat(o.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            r.error = fmt::format("{} exists and is not a socket; remove it or choose another path", o.path);
            return r;
        }
        Probe p = probe(o.path, o.type);
        if (!p.error.empty()) {
            r.error = std::move(p.error);
            return r;
        }
        if (p.live) {
            r.error = fmt::format("{} is in use by a running process", o.path);
            return r;
        }
        if (::unlink(o.path.c_str()) != 0 && errno != ENOENT) {
            r.error = fmt::format("cannot remove the stale socket {}: {}", o.path, std::strerror(errno));
            return r;
        }
    } else if (errno != ENOENT) {
        r.error = fmt::format("cannot stat {}: {}", o.path, std::strerror(errno));
        return r;
    }

    FdGuard fd(::socket(AF_UNIX, sock_type(o.type) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        r.error = fmt::format("socket(): {}", std::strerror(errno));
        return r;
    }
    const sockaddr_un a = address(o.path);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
        r.error = errno == EADDRINUSE ? fmt::format("{} is in use by a running process", o.path)
                                      : fmt::format("cannot bind {}: {}", o.path, std::strerror(errno));
        return r;
    }
    if (::lstat(o.path.c_str(), &st) != 0) {
        r.error = fmt::format("cannot stat {} after bind: {}", o.path, std::strerror(errno));
        return r;
    }
    // From here on the file is ours: the BoundSocket removes it on any error.
    auto sock = std::make_unique<BoundSocket>(fd.release(), o.path, st.st_dev, st.st_ino);
    // Permissions before listen(): nobody can connect before that anyway.
    if (::chmod(o.path.c_str(), o.mode) != 0) {
        r.error = fmt::format("cannot chmod {:o} {}: {}", o.mode, o.path, std::strerror(errno));
        return r;
    }
    if (o.group && ::chown(o.path.c_str(), static_cast<uid_t>(-1), *o.group) != 0) {
        r.error = fmt::format("cannot chgrp {} {}: {}", *o.group, o.path, std::strerror(errno));
        return r;
    }
    if (o.type == SocketType::Stream && ::listen(sock->fd(), o.backlog) != 0) {
        r.error = fmt::format("cannot listen on {}: {}", o.path, std::strerror(errno));
        return r;
    }
    r.socket = std::move(sock);
    return r;
}

std::optional<mode_t> parse_mode(std::string_view text) {
    if (text.starts_with("0o") || text.starts_with("0O")) {
        text.remove_prefix(2);
    }
    if (text.empty() || text.size() > 4) {
        return std::nullopt;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
    if (ec != std::errc() || end != text.data() + text.size() || value > 0777) {
        return std::nullopt;
    }
    return static_cast<mode_t>(value);
}

GroupResult parse_group(std::string_view text, const std::string& group_file) {
    GroupResult r;
    if (text.empty()) {
        r.error = "the group is empty";
        return r;
    }
    unsigned long gid = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), gid);
    if (ec == std::errc() && end == text.data() + text.size()) {
        if (gid >= static_cast<unsigned long>(static_cast<gid_t>(-1))) {
            r.error = fmt::format("group id {} is out of range", text);
        } else {
            r.gid = static_cast<gid_t>(gid);
        }
        return r;
    }
    // name:password:gid:members
    std::ifstream in(group_file);
    std::string line;
    while (std::getline(in, line)) {
        const auto c1 = line.find(':');
        if (c1 == std::string::npos || std::string_view(line).substr(0, c1) != text) {
            continue;
        }
        const auto c2 = line.find(':', c1 + 1);
        const auto c3 = c2 == std::string::npos ? c2 : line.find(':', c2 + 1);
        if (c3 == std::string::npos) {
            break;
        }
        const std::string_view field = std::string_view(line).substr(c2 + 1, c3 - c2 - 1);
        unsigned long value = 0;
        const auto [e, err] = std::from_chars(field.data(), field.data() + field.size(), value);
        if (err == std::errc() && e == field.data() + field.size() && !field.empty()) {
            r.gid = static_cast<gid_t>(value);
            return r;
        }
        break;
    }
    r.error = fmt::format("group '{}' is not in {} (give a numeric gid for groups from LDAP or sssd)", text,
                          group_file);
    return r;
}

}  // namespace sluice::unixsock
