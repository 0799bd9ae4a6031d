#pragma once
// Named in-process streams. A stage hands records to a stream by name (for
// example a window's late records, see StageBatch::streams); the pipeline
// publishes them once their batch is committed, and every `stream` source
// subscribed to that name receives them for its own pipeline.

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.hpp"

namespace sluice {

class StreamBus {
public:
    // Called on the publishing pipeline's worker thread: must not block for
    // long (queue the records, never wait for room).
    using Subscriber = std::function<void(std::span<const Record> records)>;

    // Returns a handle for unsubscribe().
    std::uint64_t subscribe(std::string name, Subscriber fn);
    void unsubscribe(std::uint64_t handle);
    // Returns the number of subscribers that got the records (0: nobody
    // listens on `name`; the caller counts the records as dropped).
    std::size_t publish(std::string_view name, std::span<const Record> records);

private:
    struct Entry {
        std::uint64_t handle;
        std::string name;
        Subscriber fn;
    };
    std::mutex mu_;
    std::vector<Entry> subs_;
    std::uint64_t next_ = 1;
};

// The process-wide bus.
StreamBus& stream_bus();

}  // namespace sluice
