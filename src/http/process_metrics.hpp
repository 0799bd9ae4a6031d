#pragma once
// The standard Prometheus process_* metrics, read from /proc when scraped.

#include <cstdint>
#include <vector>

#include "core/metrics.hpp"

namespace sluice::http {

// Registers process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_start_time_seconds, process_open_fds,
// process_max_fds and process_threads in sluice::metrics() for as long as it
// lives. Create one per process.
class ProcessMetrics {
public:
    ProcessMetrics();

private:
    std::vector<GaugeFnHandle> handles_;
};

// Resident set size now and at its peak (VmHWM), in bytes; 0 if unreadable.
// For benchmarks and status lines.
std::uint64_t current_rss_bytes();
std::uint64_t peak_rss_bytes();

}  // namespace sluice::http
