#include "http/process_metrics.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string_view>
#include <sys/resource.h>
#include <unistd.h>

namespace sluice::http {
namespace {

// Reads a small /proc file into `buf` (no allocation: this runs on every
// scrape). Returns the bytes read; /proc files report size 0, so read to EOF.
template <std::size_t N>
std::string_view read_proc(const char* path, char (&buf)[N]) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return {};
    }
    std::size_t len = 0;
    while (len < N) {
        const ssize_t n = ::read(fd, buf + len, N - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return {buf, len};
}

// The `index`-th whitespace-separated number in `s` (0-based); 0 if absent.
std::uint64_t nth_number(std::string_view s, std::size_t index) {
    std::size_t i = 0;
    for (std::size_t field = 0;; ++field) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) {
            ++i;
        }
        if (i >= s.size()) {
            return 0;
        }
        const std::size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\n' && s[i] != '\t') {
            ++i;
        }
        if (field == index) {
            std::uint64_t v = 0;
            std::from_chars(s.data() + start, s.data() + i, v);
            return v;
        }
    }
}

// /proc/self/stat after the command name, which may itself hold spaces and
// parentheses: everything past the last ')'. Field 3 (state) is index 0.
std::string_view stat_fields(std::string_view stat) {
    const auto close = stat.rfind(')');
    return close == std::string_view::npos ? std::string_view() : stat.substr(close + 1);
}

constexpr std::size_t kStatUtime = 14 - 3;
constexpr std::size_t kStatStime = 15 - 3;
constexpr std::size_t kStatThreads = 20 - 3;
constexpr std::size_t kStatStarttime = 22 - 3;

double clock_ticks() {
    const long t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<double>(t) : 100.0;
}

std::uint64_t page_size() {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::uint64_t>(p) : 4096;
}

std::uint64_t statm_pages(std::size_t index) {
    char buf[256];
    return nth_number(read_proc("/proc/self/statm", buf), index);
}

std::uint64_t stat_field(std::size_t index) {
    char buf[1024];
    return nth_number(stat_fields(read_proc("/proc/self/stat", buf)), index);
}

double start_time_seconds() {
    // /proc/stat is large on many-core machines (btime follows the long
    // "intr" line), so read it line by line; this runs once.
    FILE* f = std::fopen("/proc/stat", "re");
    if (f == nullptr) {
        return 0;
    }
    char* line = nullptr;
    std::size_t cap = 0;
    double boot = 0;
    while (::getline(&line, &cap, f) > 0) {
        const std::string_view l(line);
        if (l.starts_with("btime ")) {
            boot = static_cast<double>(nth_number(l.substr(6), 0));
            break;
        }
    }
    std::free(line);
    std::fclose(f);
    if (boot == 0) {
        return 0;
    }
    return boot + static_cast<double>(stat_field(kStatStarttime)) / clock_ticks();
}

double open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) {
        return 0;
    }
    std::uint64_t n = 0;
    while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] != '.') {
            ++n;
        }
    }
    ::closedir(dir);
    return static_cast<double>(n > 0 ? n - 1 : 0);  // not counting the directory's own fd
}

double max_fds() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return 0;
    }
    return static_cast<double>(rl.rlim_cur);
}

}  // namespace

std::uint64_t current_rss_bytes() { return statm_pages(1) * page_size(); }

std::uint64_t peak_rss_bytes() {
    char buf[4096];
    const std::string_view s = read_proc("/proc/self/status", buf);
    const auto pos = s.find("VmHWM:");
    if (pos == std::string_view::npos) {
        return 0;
    }
    return nth_number(s.substr(pos + 6), 0) * 1024;  // reported in kB
}

ProcessMetrics::ProcessMetrics() {
    auto& m = metrics();
    // The start time never changes: read it once.
    const double started = start_time_seconds();
    handles_.push_back(m.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                                  [] { return static_cast<double>(current_rss_bytes()); }));
    handles_.push_back(m.gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
                                  [] { return static_cast<double>(statm_pages(0) * page_size()); }));
    handles_.push_back(m.counter_fn("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
                                  [] {
                                      char buf[1024];
                                      const auto f = stat_fields(read_proc("/proc/self/stat", buf));
                                      return static_cast<double>(nth_number(f, kStatUtime) + nth_number(f, kStatStime)) /
                                             clock_ticks();
                                  }));
    handles_.push_back(m.gauge_fn("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                                  {}, [started] { return started; }));
    handles_.push_back(m.gauge_fn("process_open_fds", "Number of open file descriptors.", {}, open_fds));
    handles_.push_back(m.gauge_fn("process_max_fds", "Maximum number of open file descriptors.", {}, max_fds));
    handles_.push_back(m.gauge_fn("process_threads", "Number of OS threads in the process.", {},
                                  [] { return static_cast<double>(stat_field(kStatThreads)); }));
}

}  // namespace sluice::http
