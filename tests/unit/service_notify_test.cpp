#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "runtime/sd_notify.hpp"
#include "runtime/service_monitor.hpp"

using namespace sluice;

namespace {

// The service manager's end: a datagram socket bound to a path or an
// abstract name, as systemd's $NOTIFY_SOCKET is.
class FakeManager {
public:
    explicit FakeManager(bool abstract) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        const std::string name = "sluice-notify-test-" + std::to_string(::getpid()) + (abstract ? "-a" : "-p");
        socklen_t len;
        if (abstract) {
            name_ = "@" + name;
            std::memcpy(sa.sun_path + 1, name.data(), name.size());
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
        } else {
            name_ = "/tmp/" + name;
            ::unlink(name_.c_str());
            std::memcpy(sa.sun_path, name_.data(), name_.size());
            len = static_cast<socklen_t>(sizeof sa);
        }
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len), 0) << std::strerror(errno);
        timeval tv{10, 0};  // a generous bound for a message that is due
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ~FakeManager() {
        ::close(fd_);
        if (name_[0] == '/') {
            ::unlink(name_.c_str());
        }
    }
    const std::string& name() const { return name_; }
    // The next datagram, or "" after the receive timeout.
    std::string next() {
        char buf[4096];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
    void set_timeout(std::chrono::milliseconds t) {
        timeval tv{static_cast<time_t>(t.count() / 1000), static_cast<suseconds_t>((t.count() % 1000) * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

private:
    int fd_ = -1;
    std::string name_;
};

}  // namespace

TEST(SdNotify, ParsesTheEnvironment) {
    auto env = sd::notify_env_from("/run/systemd/notify", "30000000", nullptr, 42);
    EXPECT_EQ(env.socket, "/run/systemd/notify");
    EXPECT_EQ(env.watchdog, std::chrono::seconds(30));
    EXPECT_EQ(sd::notify_env_from("@x", "30000000", "42", 42).watchdog, std::chrono::seconds(30));
    // The watchdog belongs to another process, or the value is no number.
    EXPECT_EQ(sd::notify_env_from("@x", "30000000", "43", 42).watchdog.count(), 0);
    EXPECT_EQ(sd::notify_env_from("@x", "30s", nullptr, 42).watchdog.count(), 0);
    EXPECT_EQ(sd::notify_env_from("@x", "-5", nullptr, 42).watchdog.count(), 0);
    EXPECT_EQ(sd::notify_env_from("@x", "", nullptr, 42).watchdog.count(), 0);
    EXPECT_EQ(sd::notify_env_from("@x", "0", nullptr, 42).watchdog.count(), 0);
    EXPECT_EQ(sd::notify_env_from(nullptr, nullptr, nullptr, 42).socket, "");
    EXPECT_FALSE(sd::parse_usec("99999999999999999999999"));
    EXPECT_EQ(sd::parse_usec("18446744073709551615"), 18446744073709551615ull);
}

TEST(SdNotify, DisabledWithoutSocket) {
    sd::Notifier n(sd::NotifyEnv{"", std::chrono::seconds(10)});
    EXPECT_FALSE(n.enabled());
    EXPECT_EQ(n.watchdog_interval().count(), 0);
    EXPECT_FALSE(n.ready("x"));
    sd::Notifier odd(sd::NotifyEnv{"vsock:2:1234", {}});
    EXPECT_FALSE(odd.enabled());
}

TEST(SdNotify, SendsToPathAndAbstractSockets) {
    for (bool abstract : {false, true}) {
        FakeManager mgr(abstract);
        sd::Notifier n(sd::NotifyEnv{mgr.name(), {}});
        ASSERT_TRUE(n.enabled()) << mgr.name();
        EXPECT_TRUE(n.ready("2 pipelines running"));
        EXPECT_EQ(mgr.next(), "READY=1\nSTATUS=2 pipelines running");
        EXPECT_TRUE(n.status("line one\nline two"));
        EXPECT_EQ(mgr.next(), "STATUS=line one line two");
        EXPECT_TRUE(n.reloading(""));
        const std::string r = mgr.next();
        EXPECT_EQ(r.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << r;
        const auto usec = sd::parse_usec(r.substr(r.find('=', 12) + 1));
        ASSERT_TRUE(usec) << r;
        EXPECT_LE(*usec, sd::monotonic_usec());
        EXPECT_TRUE(n.stopping("bye"));
        EXPECT_EQ(mgr.next(), "STOPPING=1\nSTATUS=bye");
        EXPECT_TRUE(n.watchdog());
        EXPECT_EQ(mgr.next(), "WATCHDOG=1");
    }
}

TEST(SdNotify, NoListenerIsNotAnError) {
    sd::Notifier n(sd::NotifyEnv{"/nonexistent/notify", {}});
    EXPECT_TRUE(n.enabled());
    EXPECT_FALSE(n.watchdog());  // logged once, never thrown
    EXPECT_FALSE(n.watchdog());
}

TEST(ServiceMonitor, StatusLine) {
    ServiceSample s;
    s.available = true;
    s.pipelines = 3;
    s.buffered = 0;
    s.sinks = 4;
    EXPECT_EQ(service_status_line(s, 1520.4), "3 pipelines, 1520 records/s in, 0 buffered, sinks ok");
    s.pipelines = 1;
    s.buffered = 12;
    s.sinks_retrying = 1;
    EXPECT_EQ(service_status_line(s, 0), "1 pipeline, 0 records/s in, 12 buffered, 1 of 4 sinks retrying");
    s.quarantined = 1;
    EXPECT_EQ(service_status_line(s, 0), "1 pipeline, 0 records/s in, 12 buffered, 1 of 4 sinks retrying, "
                                         "1 damaged database moved aside (see the log)");
}

TEST(ServiceMonitor, PingsOnlyWhileWorkersTurn) {
    FakeManager mgr(true);
    // The shortest watchdog the monitor honours fully: it never calls a
    // worker stuck before a second has passed.
    sd::Notifier n(sd::NotifyEnv{mgr.name(), std::chrono::milliseconds(1000)});
    std::atomic<bool> stalled{false};
    std::atomic<std::uint64_t> records{0};
    ServiceMonitor monitor(
        n,
        [&](std::int64_t stale_after_ns, bool) {
            EXPECT_GE(stale_after_ns, 1'000'000'000);
            ServiceSample s;
            s.available = true;
            s.pipelines = 1;
            s.records_in = records.fetch_add(100) + 100;
            if (stalled) {
                s.stalled = "demo";
                s.stalled_for_ns = stale_after_ns + 1;
            }
            return s;
        },
        std::chrono::milliseconds(300));
    monitor.start();
    int pings = 0;
    int statuses = 0;
    while (pings < 3 || statuses < 2) {
        const std::string m = mgr.next();
        ASSERT_FALSE(m.empty()) << "no notification within the receive timeout";
        pings += m == "WATCHDOG=1";
        if (m.rfind("STATUS=1 pipeline, ", 0) == 0) {
            ++statuses;
            EXPECT_NE(m.find(" records/s in, 0 buffered, sinks ok"), std::string::npos) << m;
        }
    }
    stalled = true;
    std::string m;
    do {
        m = mgr.next();
        ASSERT_FALSE(m.empty()) << "the stall was never reported";
    } while (m.find("worker stuck") == std::string::npos);
    EXPECT_EQ(m.rfind("STATUS=pipeline demo: worker stuck for ", 0), 0u) << m;
    // From here on: no pings, and no status line claiming all is well.
    mgr.set_timeout(std::chrono::milliseconds(1500));
    for (m = mgr.next(); !m.empty(); m = mgr.next()) {
        EXPECT_NE(m, "WATCHDOG=1");
    }
    stalled = false;
    mgr.set_timeout(std::chrono::seconds(10));
    do {
        m = mgr.next();
        ASSERT_FALSE(m.empty()) << "pings did not resume";
    } while (m != "WATCHDOG=1");
    monitor.stop();
}

TEST(ServiceMonitor, PingsDuringABoundedReload) {
    FakeManager mgr(true);
    sd::Notifier n(sd::NotifyEnv{mgr.name(), std::chrono::milliseconds(200)});
    ServiceMonitor monitor(n, [](std::int64_t, bool) { return ServiceSample{}; },  // pipelines held
                           std::chrono::seconds(60));
    monitor.busy(std::chrono::seconds(60));
    monitor.start();
    for (int pings = 0; pings < 3;) {
        const std::string m = mgr.next();
        ASSERT_FALSE(m.empty());
        pings += m == "WATCHDOG=1";
    }
    monitor.busy(std::chrono::nanoseconds(0));  // the reload overran its grace
    std::string m;
    do {
        m = mgr.next();
        ASSERT_FALSE(m.empty()) << "the overrun was never reported";
    } while (m.find("taking too long") == std::string::npos);
    monitor.stop();
}

TEST(ServiceMonitor, NoThreadWithoutServiceManager) {
    sd::Notifier n;
    int calls = 0;
    ServiceMonitor monitor(n, [&](std::int64_t, bool) {
        ++calls;
        return ServiceSample{};
    });
    monitor.start();
    monitor.stop();
    EXPECT_EQ(calls, 0);
}

#include "runtime/gateway.hpp"

namespace {

PipelineSpec pipeline_with_queue(std::string name, std::uint64_t bytes, bool explicit_) {
    PipelineSpec p;
    p.name = std::move(name);
    Options::Entry e;
    e.type = OptionType::Size;
    e.value = static_cast<std::int64_t>(bytes);
    e.explicit_ = explicit_;
    p.options.set("queue_max_bytes", e);
    return p;
}

}  // namespace

TEST(ResourceFit, IngestQueuesFollowMemoryMax) {
    constexpr std::uint64_t MiB = 1024 * 1024;
    GatewayConfig cfg;
    cfg.pipelines.push_back(pipeline_with_queue("a", 8 * MiB, false));
    cfg.pipelines.push_back(pipeline_with_queue("b", 8 * MiB, false));
    cfg.pipelines.push_back(pipeline_with_queue("c", 32 * MiB, true));  // the user's word stands
    EXPECT_EQ(fit_to_memory_limit(cfg, 0), 0u);                  // no limit
    EXPECT_EQ(fit_to_memory_limit(cfg, 4096 * MiB), 0u);         // plenty: defaults stay
    EXPECT_EQ(cfg.pipelines[0].options.size("queue_max_bytes"), 8 * MiB);
    EXPECT_EQ(fit_to_memory_limit(cfg, 96 * MiB), 2 * MiB);      // 96 MiB / 16 / 3 pipelines
    EXPECT_EQ(cfg.pipelines[0].options.size("queue_max_bytes"), 2 * MiB);
    EXPECT_EQ(cfg.pipelines[1].options.size("queue_max_bytes"), 2 * MiB);
    EXPECT_EQ(cfg.pipelines[2].options.size("queue_max_bytes"), 32 * MiB);
    EXPECT_EQ(fit_to_memory_limit(cfg, 8 * MiB), 256u * 1024);   // never below 256 KiB
}
