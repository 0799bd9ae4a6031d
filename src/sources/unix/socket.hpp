#pragma once
// Binding a Unix socket at a path without ever taking a path from someone
// else: a stale socket file (nobody listening) is replaced, a live one or a
// file that is not a socket is an error. The socket file is removed when the
// BoundSocket goes, but only if the path still names the socket we made.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace sluice::unixsock {

enum class SocketType { Stream, Datagram };

struct BindOptions {
    std::string path;
    SocketType type = SocketType::Stream;
    mode_t mode = 0660;
    std::optional<gid_t> group;
    int backlog = 64;
};

class BoundSocket {
public:
    BoundSocket(int fd, std::string path, dev_t dev, ino_t ino) : fd_(fd), path_(std::move(path)), dev_(dev), ino_(ino) {}
    ~BoundSocket() { close(); }
    BoundSocket(const BoundSocket&) = delete;
    BoundSocket& operator=(const BoundSocket&) = delete;

    int fd() const { return fd_; }  // non-blocking, close-on-exec
    const std::string& path() const { return path_; }
    // Closes the socket and removes its file (if it is still ours). Idempotent.
    void close();

private:
    int fd_;
    std::string path_;
    dev_t dev_;
    ino_t ino_;
};

struct BindResult {
    std::unique_ptr<BoundSocket> socket;
    std::string error;  // set when socket is null
};

BindResult bind_socket(const BindOptions& options);

// "0660", "660", "0o660" → 0660; nullopt for anything that is not octal up to 0777.
std::optional<mode_t> parse_mode(std::string_view text);

struct GroupResult {
    std::optional<gid_t> gid;
    std::string error;
};
// A numeric gid, or a group name looked up in `group_file` (a static binary
// cannot use NSS, so LDAP/sssd groups need the numeric gid).
GroupResult parse_group(std::string_view text, const std::string& group_file = "/etc/group");

}  // namespace sluice::unixsock
