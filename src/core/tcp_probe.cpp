#include "core/tcp_probe.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace sluice {

int connect_tcp(const std::string& host_in, int port, std::chrono::seconds timeout, std::string& error) {
    std::string host = host_in;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port_text = std::to_string(port);
    if (int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0) {
        error = fmt::format("cannot resolve '{}': {}", host, gai_strerror(rc));
        return -1;
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
    const int ms = static_cast<int>(timeout.count() * 1000);
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            rc = ::poll(&p, 1, ms) == 1 ? 0 : -1;
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (rc == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0)) {
                errno = soerr;
                rc = -1;
            }
        }
        if (rc == 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            timeval tv{static_cast<time_t>(timeout.count()), 0};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            return fd;
        }
        error = std::strerror(errno);
        ::close(fd);
    }
    if (error.empty()) {
        error = "no usable address";
    }
    return -1;
}

std::string probe_tcp(const std::string& host, int port, std::chrono::seconds timeout) {
    std::string error;
    const int fd = connect_tcp(host, port, timeout, error);
    if (fd < 0) {
        return error;
    }
    ::close(fd);
    return {};
}

}  // namespace sluice
