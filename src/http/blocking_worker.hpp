#pragma once
// One thread for the API's blocking work (table writes that commit to
// SQLite), so the I/O loop that serves HTTP, timers and sources never waits
// on the disk. Jobs run one at a time in the order they were posted; each is
// guarded, so a failing job is logged and the thread goes on.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace sluice::http {

class BlockingWorker {
public:
    BlockingWorker() = default;
    // Runs the jobs already posted, then joins.
    ~BlockingWorker();
    BlockingWorker(const BlockingWorker&) = delete;
    BlockingWorker& operator=(const BlockingWorker&) = delete;

    // Thread-safe. The thread starts with the first job.
    void post(std::function<void()> job);

private:
    void run();

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace sluice::http
