#pragma once
// One Paho call at a time across the gateway's mqtt sources.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace sluice::mqtt {

// Paho's synchronous clients share one set of sockets per process: a client
// waiting in MQTTClient_receive cycles over every client's socket, so it can
// take the one another client is connecting on, whose connect then waits for
// its CONNACK until connect_timeout (eclipse-paho/paho.mqtt.c#881), and two
// clients receiving at once race on that set (ThreadSanitizer: one thread
// grows the poll array while another polls it). With two or more mqtt sources
// in one gateway every Paho call therefore runs alone, in turn (first come,
// first served, so no source starves). A receive serves every client: what
// it reads for another client waits in that client's queue for its turn. To
// keep the turns short while several clients share the gate, a receive
// waits at most kSharedReceiveMs.
inline constexpr unsigned long kSharedReceiveMs = 5;

class PahoGate {
public:
    class Hold {
    public:
        explicit Hold(PahoGate& g) : g_(g) {}
        ~Hold() { g_.leave(); }
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;

    private:
        PahoGate& g_;
    };

    Hold enter() {
        std::unique_lock lk(mu_);
        const std::uint64_t ticket = next_++;
        turn_.wait(lk, [&] { return serving_ == ticket; });
        return Hold(*this);
    }
    void add_client() { clients_.fetch_add(1); }
    void remove_client() { clients_.fetch_sub(1); }
    // How long one receive may hold the gate.
    unsigned long receive_timeout(unsigned long wanted) const {
        return clients_.load() > 1 ? std::min(wanted, kSharedReceiveMs) : wanted;
    }

private:
    void leave() {
        {
            std::lock_guard lk(mu_);
            ++serving_;
        }
        turn_.notify_all();
    }

    std::mutex mu_;
    std::condition_variable turn_;
    std::uint64_t next_ = 0;
    std::uint64_t serving_ = 0;
    std::atomic<int> clients_{0};
};

inline PahoGate& paho_gate() {
    static PahoGate gate;
    return gate;
}

}  // namespace sluice::mqtt
