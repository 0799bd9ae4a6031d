// Synthetic sensors for trying sluice without hardware: each tick emits one
// JSON frame with a value per sensor (sine, random walk or steps). It runs on
// the I/O loop; when the ingest queue is full it pauses until there is room.

#include <algorithm>
#include <cmath>
#include <iterator>
#include <random>

#include <fmt/format.h>

#include "core/clock.hpp"
#include "core/component.hpp"
#include "core/ioloop.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/option_binding.hpp"
#include "core/record_json.hpp"
#include "core/guard.hpp"

namespace sluice::components {
namespace {

// The options, each bound to the field it fills (core/option_binding.hpp).
struct SimulateSettings {
    double rate = 1;
    std::int64_t count = 0;
    std::vector<std::string> sensors;
    std::string shape;
    std::string device;
    std::uint32_t seed = 1;
};

const OptionBinding<SimulateSettings>& simulate_options() {
    using S = SimulateSettings;
    static const auto b =
        OptionBinding<S>()
            .field(&S::rate, {.name = "rate", .type = OptionType::Float, .default_value = "1",
                              .doc = "Frames per second", .min = 0.001, .max = 10'000'000})
            .field(&S::count, {.name = "count", .type = OptionType::Int, .default_value = "0",
                               .doc = "Stop after this many frames (0: never)", .min = 0})
            .field(&S::sensors, {.name = "sensors", .type = OptionType::List,
                                 .default_value = "temperature,humidity,pressure",
                                 .doc = "Field names, one value each per frame", .min = 1, .max = 64})
            .field(&S::shape, {.name = "shape", .type = OptionType::Enum, .default_value = "sine",
                               .doc = "How the values move", .choices = "sine|random_walk|steps"})
            .field(&S::device, {.name = "device", .type = OptionType::String, .default_value = "sim-1",
                                .doc = "Value of the \"device\" field and origin suffix"})
            .field(&S::seed, {.name = "seed", .type = OptionType::Int, .default_value = "1",
                              .doc = "Random seed for random_walk", .min = 0, .max = 4294967295.0});
    return b;
}

class SimulateSource final : public Source {
public:
    explicit SimulateSource(SimulateSettings s)
        : rate_(s.rate),
          count_(s.count),
          sensors_(std::move(s.sensors)),
          shape_(s.shape == "random_walk" ? Shape::RandomWalk : s.shape == "steps" ? Shape::Steps : Shape::Sine),
          device_(std::move(s.device)),
          rng_(s.seed) {
        for (std::size_t i = 0; i < sensors_.size(); ++i) {
            walk_.push_back(base(i));
        }
        head_ = "{\"device\":";
        append_json_string(head_, device_);
        head_ += ",\"seq\":";
        for (const auto& name : sensors_) {
            std::string key = ",";
            append_json_string(key, name);
            key += ':';
            keys_.push_back(std::move(key));
        }
        origin_ = "simulate/" + device_;
    }

    void start(SourceContext& ctx) override {
        ctx_ = &ctx;
        started_ns_ = mono_now_ns();
        started_wall_ns_ = wall_now_ns();
        // Tick at most every 50 ms; at higher rates each tick emits the
        // readings due since the last one (each at its own instant), so
        // `rate=1000` wakes the I/O loop and the worker 20 times a second,
        // not 1,000 (the worker gathers for batch_max_delay anyway).
        const double period_ns = 1e9 / rate_;
        tick_ns_ = std::max<std::int64_t>(50'000'000, static_cast<std::int64_t>(period_ns));
        schedule();
    }

    void stop() override {
        stopped_ = true;
        if (timer_ != 0) {
            ctx_->loop->cancel_timer(timer_);
            timer_ = 0;
        }
    }

private:
    void schedule() {
        timer_ = ctx_->loop->add_timer(std::chrono::nanoseconds(0), std::chrono::nanoseconds(tick_ns_),
                                       [this] {
                                           guarded(ctx_->name, ctx_->metrics->errors, tick_log_, [this] { tick(); });
                                       });
    }

    double base(std::size_t i) const {
        static constexpr double bases[] = {21.0, 45.0, 1013.0, 3.3, 50.0};
        return bases[i % 5];
    }

    double value(std::size_t i, double t) {
        const double amp = base(i) * 0.05 + 1.0;
        if (shape_ == Shape::RandomWalk) {
            std::normal_distribution<double> step(0.0, amp * 0.02);
            walk_[i] += step(rng_);
            return walk_[i];
        }
        if (shape_ == Shape::Steps) {
            return base(i) + amp * std::floor(std::fmod(t / 10.0 + static_cast<double>(i), 4.0));
        }
        // The minute's phase first: sin() of a small argument is cheap, of
        // the Unix time in radians it is an expensive argument reduction.
        return base(i) + amp * std::sin(2 * M_PI * (std::fmod(t / 60.0, 1.0) + static_cast<double>(i) / 7.0));
    }

    void tick() {
        if (stopped_) {
            return;
        }
        const double elapsed = static_cast<double>(mono_now_ns() - started_ns_) / 1e9;
        auto due = static_cast<std::int64_t>(elapsed * rate_) + 1;
        if (count_ > 0) {
            due = std::min(due, count_);
        }
        std::vector<Frame> frames;
        const TimeNs now = wall_now_ns();
        while (emitted_ + static_cast<std::int64_t>(frames.size()) < due && frames.size() < 4096) {
            // Each reading at its own instant, start + seq / rate (never
            // later than now): a late timer that catches up with several
            // readings does not give them one time and one value.
            const std::int64_t seq = emitted_ + static_cast<std::int64_t>(frames.size());
            const TimeNs at = std::min<TimeNs>(
                now, started_wall_ns_ + static_cast<TimeNs>(static_cast<double>(seq) * 1e9 / rate_));
            const double t = static_cast<double>(at) / 1e9;
            std::string p;
            p.reserve(payload_hint_);
            p += head_;
            fmt::format_to(std::back_inserter(p), "{}", seq);
            for (std::size_t i = 0; i < sensors_.size(); ++i) {
                p += keys_[i];
                fmt::format_to(std::back_inserter(p), "{:.3f}", value(i, t));
            }
            p += '}';
            payload_hint_ = std::max(payload_hint_, p.size());
            Frame f;
            f.payload = std::move(p);
            f.origin = origin_;
            f.arrival_ns = at;
            f.source = ctx_->index;
            frames.push_back(std::move(f));
        }
        const std::size_t total = frames.size();
        const std::size_t taken = ctx_->ingest->try_push(frames);
        emitted_ += static_cast<std::int64_t>(taken);
        ctx_->metrics->received->inc(taken);
        if (taken > 0) {
            ctx_->metrics->last_seen->set(static_cast<double>(now) / 1e9);
        }
        if (taken < total) {
            // Full: pause the timer until the worker has made room.
            ctx_->loop->cancel_timer(timer_);
            timer_ = 0;
            ctx_->ingest->when_space(ctx_->index, [this] {
                if (!stopped_ && timer_ == 0) {
                    schedule();
                }
            });
            return;
        }
        if (count_ > 0 && emitted_ >= count_) {
            stop();
            log::info("{}: emitted {} frames, done", ctx_->name, emitted_);
            ctx_->finished();
        }
    }

    enum class Shape { Sine, RandomWalk, Steps };

    double rate_;
    std::int64_t count_;
    std::vector<std::string> sensors_;
    Shape shape_;
    std::string device_;
    // The payload's fixed parts, written once: `{"device":"…","seq":` and
    // `,"<sensor>":` per sensor; and the origin.
    std::string head_;
    std::vector<std::string> keys_;
    std::string origin_;
    std::size_t payload_hint_ = 0;
    std::mt19937 rng_;
    std::vector<double> walk_;
    SourceContext* ctx_ = nullptr;
    IoLoop::TimerId timer_ = 0;
    std::int64_t tick_ns_ = 1'000'000;
    std::int64_t started_ns_ = 0;
    TimeNs started_wall_ns_ = 0;  // wall clock at start: reading n is taken at start + n / rate
    std::int64_t emitted_ = 0;
    bool stopped_ = false;
    log::OnceLog tick_log_;  // what escapes a tick (core/guard.hpp)
};

}  // namespace

const Descriptor& source_simulate() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "simulate",
        .summary = "Synthetic sensors (sine, random walk, steps) emitting JSON frames at a set rate",
        .delivery = Delivery::BestEffort,
        .loss_window = "Synthetic frames not yet committed when the process dies are not generated again.",
        .options = simulate_options().specs(),
        .url_schemes = {"simulate"},
        .url_example = "simulate:?rate=10&count=100&shape=random_walk",
        .make_source = [](const Options& o) { return std::make_unique<SimulateSource>(simulate_options().bind(o)); },
    };
    return d;
}

}  // namespace sluice::components
