// The zmq source against in-process peers (a second ZeroMQ context in the
// test), its option checks and its URL form.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "config/resolve.hpp"
#include "core/component.hpp"
#include "core/metrics.hpp"
#include "core/url.hpp"

namespace sluice::components {
const Descriptor& source_zmq();
}

namespace {

using namespace sluice;
namespace fs = std::filesystem;

RawValue text(std::string v) {
    RawValue r;
    r.v = std::move(v);
    r.from_text = true;
    return r;
}

// A Z85 key written as a config value. Z85 has '$', '{' and '@' in its
// alphabet: "${" is written "$${" (else it starts a variable), and a secret
// that begins with '@' is written "@@" (else it names a file).
std::string key_value(const char* key, bool secret = true) {
    std::string out = secret && key[0] == '@' ? "@" : "";
    for (const char* p = key; *p != '\0'; ++p) {
        if (p[0] == '$' && p[1] == '{') {
            out += '$';
        }
        out += *p;
    }
    return out;
}

RawTable table(std::initializer_list<std::pair<std::string, std::string>> kv) {
    RawTable t;
    for (const auto& [k, v] : kv) {
        t.push_back(RawEntry{k, SourcePos{}, text(v)});
    }
    return t;
}

Options resolve(const RawTable& t, Diagnostics& diag) {
    return resolve_options(components::source_zmq().options, t, "source 'zmq'", {}, diag);
}

std::unique_ptr<Source> make(const RawTable& t) {
    Diagnostics diag;
    Options o = resolve(t, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    return components::source_zmq().make_source(o);
}

std::string config_error(std::initializer_list<std::pair<std::string, std::string>> kv) {
    try {
        make(table(kv));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

// Collects what the source pushes.
class FakeIngest final : public Ingest {
public:
    std::size_t try_push(std::vector<Frame>& frames) override {
        const auto n = frames.size();
        take(frames);
        return n;
    }
    bool push_wait(Frame&& f) override {
        std::vector<Frame> one;
        one.push_back(std::move(f));
        take(one);
        return true;
    }
    bool push_all_wait(std::vector<Frame>& frames) override {
        take(frames);
        return true;
    }
    void when_space(std::uint32_t, std::function<void()>) override {}

    // Waits until at least n frames arrived (or 10 s passed).
    std::vector<Frame> wait_for(std::size_t n) {
        return wait_until([n](const std::vector<Frame>& f) { return f.size() >= n; });
    }
    std::vector<Frame> wait_until(const std::function<bool(const std::vector<Frame>&)>& done) {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, std::chrono::seconds(10), [&] { return done(frames_); });
        return frames_;
    }

private:
    void take(std::vector<Frame>& frames) {
        std::lock_guard lk(mu_);
        for (auto& f : frames) {
            frames_.push_back(std::move(f));
        }
        frames.clear();
        cv_.notify_all();
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Frame> frames_;
};

struct Harness {
    explicit Harness(const std::string& name)
        : metrics(ComponentMetrics::for_component("test/" + name, "source")) {
        ctx.name = "test/" + name;
        ctx.ingest = &ingest;
        ctx.metrics = &metrics;
        ctx.finished = [] {};
        ctx.load_checkpoint = [](std::string_view) { return std::optional<std::string>(); };
    }
    FakeIngest ingest;
    ComponentMetrics metrics;
    SourceContext ctx;
};

// An ipc socket file of this test process, removed when the process exits
// (under ctest each test runs in a process of its own; libzmq leaves the
// file of a bound ipc socket behind).
std::string ipc_path(const std::string& name) {
    struct Files {
        std::vector<std::string> paths;
        ~Files() {
            for (const auto& p : paths) {
                std::error_code ec;
                fs::remove(p, ec);
            }
        }
    };
    static Files files;
    auto path = (fs::temp_directory_path() / ("sluice-zmq-test-" + std::to_string(::getpid()) + "-" + name)).string();
    files.paths.push_back(path);
    return path;
}

// Sends until `done` says the message arrived: a PUB drops until the
// subscription has propagated (the slow-joiner effect).
template <class Send, class Done>
void send_until(Send&& send, Done&& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        send();
        // Paced: sent flat out, the warm-up messages fill the PUB pipe (its
        // high-water mark) while the subscription settles on a slow machine
        // (sanitizers), and the test's own messages after them are dropped.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

}  // namespace

TEST(ZmqSource, PullBindReceivesEveryPartAsAFrame) {
    const auto path = ipc_path("pull");
    auto src = make(table({{"socket", "pull"}, {"mode", "bind"}, {"endpoints", "ipc://" + path}}));
    Harness h("pull");
    src->start(h.ctx);
    zmq::context_t zc;
    zmq::socket_t push(zc, zmq::socket_type::push);
    push.connect("ipc://" + path);
    push.send(zmq::str_buffer("{\"a\":1}"), zmq::send_flags::none);
    std::array<zmq::const_buffer, 3> parts = {zmq::str_buffer("x=1"), zmq::str_buffer(""), zmq::str_buffer("y=2")};
    ASSERT_TRUE(zmq::send_multipart(push, parts));
    auto frames = h.ingest.wait_for(3);
    src->stop();
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].payload, "{\"a\":1}");
    EXPECT_EQ(frames[0].origin, "ipc://" + path);
    EXPECT_EQ(frames[1].payload, "x=1");
    EXPECT_EQ(frames[2].payload, "y=2");  // the empty part is skipped
    EXPECT_EQ(h.metrics.received->value(), 3u);
    EXPECT_GT(frames[0].arrival_ns, 0);
}

TEST(ZmqSource, SubTopicFrameBecomesOriginAndFilters) {
    const auto path = ipc_path("sub");
    zmq::context_t zc;
    zmq::socket_t pub(zc, zmq::socket_type::pub);
    pub.bind("ipc://" + path);
    auto src = make(table({{"endpoints", "ipc://" + path}, {"topics", "sensors/,alarms"}}));
    Harness h("sub");
    src->start(h.ctx);
    auto publish = [&](const char* topic, const char* payload) {
        std::array<zmq::const_buffer, 2> parts = {zmq::buffer(std::string_view(topic)),
                                                  zmq::buffer(std::string_view(payload))};
        (void)zmq::send_multipart(pub, parts);
    };
    send_until([&] { publish("sensors/warmup", "w=1"); }, [&] { return !h.ingest.wait_for(0).empty(); });
    publish("other/t", "skip=1");
    publish("sensors/t1", "{\"t\":21.5}");
    publish("alarms", "level=3");
    std::array<zmq::const_buffer, 1> lone = {zmq::str_buffer("alarms-only-topic")};
    (void)zmq::send_multipart(pub, lone);  // no payload part: counted, dropped
    publish("alarms", "last=1");
    auto frames = h.ingest.wait_until(
        [](const std::vector<Frame>& f) { return !f.empty() && f.back().payload == "last=1"; });
    src->stop();
    std::vector<std::string> seen;
    for (const auto& f : frames) {
        if (f.origin != "sensors/warmup") {
            seen.push_back(f.origin + " " + f.payload);
        }
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"sensors/t1 {\"t\":21.5}", "alarms level=3", "alarms last=1"}));
    EXPECT_EQ(h.metrics.errors->value(), 1u);
    EXPECT_EQ(h.metrics.dropped->value(), 1u);
}

TEST(ZmqSource, CurveClientTalksToCurveServerAndWrongKeyFails) {
    if (zmq_has("curve") == 0) {
        GTEST_SKIP() << "libzmq without CURVE";
    }
    char server_pub[41], server_sec[41], client_pub[41], client_sec[41], other_pub[41], other_sec[41];
    ASSERT_EQ(zmq_curve_keypair(server_pub, server_sec), 0);
    ASSERT_EQ(zmq_curve_keypair(client_pub, client_sec), 0);
    ASSERT_EQ(zmq_curve_keypair(other_pub, other_sec), 0);
    const auto path = ipc_path("curve");
    zmq::context_t zc;
    zmq::socket_t pub(zc, zmq::socket_type::pub);
    // Messages queued for the client whose handshake fails must not hold up
    // the context's end (zmq_ctx_term waits for them with the default linger).
    pub.set(zmq::sockopt::linger, 0);
    pub.set(zmq::sockopt::curve_server, true);
    pub.set(zmq::sockopt::curve_secretkey, std::string(server_sec));
    pub.bind("ipc://" + path);

    auto good = make(table({{"endpoints", "ipc://" + path},
                            {"curve_server_key", key_value(server_pub)},
                            {"curve_secret_key", key_value(client_sec)}}));
    Harness h("curve");
    good->start(h.ctx);
    auto send = [&] {
        std::array<zmq::const_buffer, 2> parts = {zmq::str_buffer("t"), zmq::str_buffer("v=1")};
        (void)zmq::send_multipart(pub, parts);
    };
    send_until(send, [&] { return !h.ingest.wait_for(0).empty(); });
    good->stop();
    EXPECT_FALSE(h.ingest.wait_for(0).empty());

    // A client that trusts another server key cannot complete the handshake.
    auto bad = make(table({{"endpoints", "ipc://" + path},
                           {"curve_server_key", key_value(other_pub)},
                           {"curve_secret_key", key_value(client_sec)},
                           {"reconnect_interval", "10ms"}}));
    Harness hb("curve-bad");
    bad->start(hb.ctx);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (hb.metrics.errors->value() == 0 && std::chrono::steady_clock::now() < deadline) {
        send();
        std::this_thread::yield();
    }
    bad->stop();
    EXPECT_GT(hb.metrics.errors->value(), 0u);
    EXPECT_TRUE(hb.ingest.wait_for(0).empty());
}

TEST(ZmqSource, ConfigErrors) {
    EXPECT_NE(config_error({{"socket", "pull"}, {"endpoints", "tcp://127.0.0.1:5999"}, {"topics", "a"}}), "");
    EXPECT_NE(config_error({{"endpoints", "nonsense://x"}}).find("cannot connect"), std::string::npos);
    const std::string bad_key(40, '~');
    const std::string msg = config_error({{"endpoints", "tcp://127.0.0.1:5999"},
                                          {"curve_server_key", bad_key},
                                          {"curve_secret_key", bad_key}});
    EXPECT_NE(msg.find("Z85"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(bad_key), std::string::npos) << "secrets are never echoed";
    if (zmq_has("curve") != 0) {
        char pub[41], sec[41];
        ASSERT_EQ(zmq_curve_keypair(pub, sec), 0);
        EXPECT_NE(config_error({{"endpoints", "tcp://127.0.0.1:5999"}, {"curve_secret_key", key_value(sec)}})
                      .find("curve_server_key"),
                  std::string::npos);
        EXPECT_NE(config_error({{"endpoints", "tcp://127.0.0.1:5999"}, {"curve_server", "true"}})
                      .find("curve_secret_key"),
                  std::string::npos);
        char other_pub[41], other_sec[41];
        ASSERT_EQ(zmq_curve_keypair(other_pub, other_sec), 0);
        EXPECT_NE(config_error({{"endpoints", "tcp://127.0.0.1:5999"},
                                {"curve_server_key", key_value(pub)},
                                {"curve_public_key", key_value(other_pub, false)},
                                {"curve_secret_key", key_value(sec)}})
                      .find("does not belong"),
                  std::string::npos);
        EXPECT_EQ(config_error({{"mode", "bind"},
                                {"endpoints", "ipc://" + ipc_path("curve-server")},
                                {"curve_server", "true"},
                                {"curve_secret_key", key_value(sec)}}),
                  "");
    }
}

TEST(ZmqSource, BindOnAPortInUseIsAStartError) {
    zmq::context_t zc;
    zmq::socket_t holder(zc, zmq::socket_type::pull);
    holder.bind("tcp://127.0.0.1:*");
    const std::string ep = holder.get(zmq::sockopt::last_endpoint);
    try {
        make(table({{"socket", "pull"}, {"mode", "bind"}, {"endpoints", ep}}));
        FAIL() << "bind should fail";
    } catch (const ConfigError& e) {
        FAIL() << "a busy port is not a config error: " << e.what();
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(ep), std::string::npos) << e.what();
    }
}

TEST(ZmqSource, UrlForms) {
    const auto& d = components::source_zmq();
    auto map = [&](std::string_view text) {
        std::string err;
        auto url = parse_url(text, &err);
        EXPECT_TRUE(url) << err;
        RawTable out;
        d.from_url(*url, out);
        return out;
    };
    auto value = [](const RawTable& t, std::string_view key) -> std::string {
        const RawEntry* e = find_entry(t, key);
        if (e == nullptr) {
            return "<unset>";
        }
        if (const auto* s = e->value.as_string()) {
            return *s;
        }
        std::string joined;
        for (const auto& v : *e->value.as_array()) {
            joined += (joined.empty() ? "" : "|") + *v.as_string();
        }
        return joined;
    };
    auto sub = map("zmq+sub://10.0.0.5:5556?topic=sensors&topic=alarms,power&rcvhwm=50");
    EXPECT_EQ(value(sub, "socket"), "sub");
    EXPECT_EQ(value(sub, "endpoints"), "tcp://10.0.0.5:5556");
    EXPECT_EQ(value(sub, "topics"), "sensors|alarms|power");
    EXPECT_EQ(value(sub, "rcvhwm"), "50");
    EXPECT_EQ(value(sub, "mode"), "<unset>");
    auto pull = map("zmq+pull://0.0.0.0:5557?bind=true");
    EXPECT_EQ(value(pull, "socket"), "pull");
    EXPECT_EQ(value(pull, "mode"), "bind");
    auto ipc = map("zmq+sub:///run/sensors.zmq");
    EXPECT_EQ(value(ipc, "endpoints"), "ipc:///run/sensors.zmq");
    std::string err;
    RawTable out;
    EXPECT_THROW(d.from_url(*parse_url("zmq+sub://host", &err), out), std::runtime_error);
    EXPECT_THROW(d.from_url(*parse_url("zmq+pull://host:1?bind=maybe", &err), out), std::runtime_error);

    // The mapped table resolves against the option table.
    Diagnostics diag;
    resolve(sub, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
}
