#include "http/blocking_worker.hpp"

#include <exception>
#include <utility>

#include "core/log.hpp"

namespace sluice::http {

BlockingWorker::~BlockingWorker() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void BlockingWorker::post(std::function<void()> job) {
    {
        std::lock_guard lk(mu_);
        jobs_.push_back(std::move(job));
        if (!thread_.joinable()) {
            thread_ = std::thread([this] { run(); });
        }
    }
    cv_.notify_one();
}

void BlockingWorker::run() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) {
                return;  // stopping, and every posted job has run
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        try {
            job();
        } catch (const std::exception& e) {
            log::error("http: background job failed: {}", e.what());
        } catch (...) {
            log::error("http: background job failed");
        }
    }
}

}  // namespace sluice::http
