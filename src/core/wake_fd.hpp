#pragma once
// An eventfd a blocking poll() waits on beside its real descriptor, so a
// thread that reads a device or a pipe sleeps until there is data or it is
// told to stop, instead of waking on a timeout to look at a flag.

#include <cstdint>
#include <sys/eventfd.h>
#include <unistd.h>

namespace sluice {

class WakeFd {
public:
    WakeFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    ~WakeFd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    WakeFd(const WakeFd&) = delete;
    WakeFd& operator=(const WakeFd&) = delete;

    // For pollfd{fd(), POLLIN, 0}; -1 if the eventfd could not be made
    // (poll() ignores a negative fd, so the waiter needs a timeout then).
    int fd() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    // Any thread: makes fd() readable until the next drain().
    void wake() const {
        if (fd_ >= 0) {
            const std::uint64_t one = 1;
            (void)!::write(fd_, &one, sizeof one);
        }
    }
    void drain() const {
        if (fd_ >= 0) {
            std::uint64_t v = 0;
            (void)!::read(fd_, &v, sizeof v);
        }
    }

private:
    int fd_;
};

}  // namespace sluice
