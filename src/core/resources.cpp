#include "core/resources.hpp"

#include <fstream>
#include <sched.h>
#include <sstream>

namespace sluice {
namespace {

// The cgroup this process is in, from /proc/self/cgroup ("0::/system.slice/sluice.service").
std::string own_cgroup_dir(const std::string& root) {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) == 0) {
            return root + line.substr(3);
        }
    }
    return root;
}

}  // namespace

double cgroup_cpu_quota(const std::string& dir) {
    std::ifstream in(dir + "/cpu.max");
    std::string quota;
    std::uint64_t period = 0;
    if (!(in >> quota >> period) || quota == "max" || period == 0) {
        return 0;
    }
    try {
        return static_cast<double>(std::stoull(quota)) / static_cast<double>(period);
    } catch (...) {
        return 0;
    }
}

std::uint64_t cgroup_memory_max(const std::string& dir) {
    std::ifstream in(dir + "/memory.max");
    std::string v;
    if (!(in >> v) || v == "max") {
        return 0;
    }
    try {
        return std::stoull(v);
    } catch (...) {
        return 0;
    }
}

double available_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    double cpus = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        cpus = CPU_COUNT(&set);
    }
    const double quota = cgroup_cpu_quota(own_cgroup_dir("/sys/fs/cgroup"));
    if (quota > 0 && quota < cpus) {
        cpus = quota;
    }
    return cpus < 1 ? 1 : cpus;
}

std::uint64_t memory_limit_bytes() { return cgroup_memory_max(own_cgroup_dir("/sys/fs/cgroup")); }

}  // namespace sluice
