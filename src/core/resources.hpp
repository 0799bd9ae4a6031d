#pragma once
// What the machine (or the cgroup sluice runs in) allows: used to size
// threads and caches, and reported at start-up.

#include <cstdint>
#include <string>

namespace sluice {

// CPUs this process may use: the affinity mask, further limited by a cgroup
// v2 `cpu.max` quota (rounded up). At least 1.
double available_cpus();

// The cgroup v2 `memory.max` limit in bytes, or 0 when there is none.
std::uint64_t memory_limit_bytes();

// Reads from `root` (default "/sys/fs/cgroup") so tests can use fixture trees.
double cgroup_cpu_quota(const std::string& root);          // 0: no quota
std::uint64_t cgroup_memory_max(const std::string& root);  // 0: no limit

}  // namespace sluice
