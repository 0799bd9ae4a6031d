#include "decoders/chain.hpp"

#include <fmt/format.h>

#include "core/metrics.hpp"
#include "core/registry.hpp"

namespace sluice {

DecoderChain::DecoderChain(std::vector<Entry> decoders, std::string metrics_component)
    : component_(std::move(metrics_component)) {
    auto& m = metrics();
    slots_.reserve(decoders.size());
    for (auto& e : decoders) {
        const Labels labels = {{"component", component_}, {"decoder", e.name}};
        Slot s;
        s.frames = &m.counter("sluice_decoder_frames_total", "Frames the decoder accepted", labels);
        s.failures = &m.counter("sluice_decoder_failures_total",
                                "Frames the decoder recognised as its format but found malformed", labels);
        s.entry = std::move(e);
        slots_.push_back(std::move(s));
    }
    dead_letters_ = &m.counter("sluice_decode_dead_letters_total", "Frames no decoder accepted",
                               {{"component", component_}});
}

void DecoderChain::open(const std::string& state_prefix, const StateLoader& load_state, const WaitHooks& wait) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = slots_[i];
        s.state_ns = fmt::format("{}/decoder/{}", state_prefix, s.entry.id.empty() ? s.entry.name : s.entry.id);
        DecoderContext ctx;
        ctx.component = component_;
        ctx.wait = wait;
        ctx.id = s.entry.id.empty() ? s.entry.name : s.entry.id;
        ctx.load_state = [&](const std::function<void(std::string_view, std::string_view)>& fn) {
            if (load_state) {
                load_state(s.state_ns, fn);
            }
        };
        s.entry.decoder->open(ctx);
    }
}

void DecoderChain::take_state(std::vector<std::pair<std::string, StateChange>>& out) {
    for (auto& s : slots_) {
        changes_.clear();
        s.entry.decoder->take_state(changes_);
        for (auto& c : changes_) {
            out.emplace_back(s.state_ns, std::move(c));
        }
    }
}

bool DecoderChain::decode(const Frame& frame, std::vector<Record>& out, DeadLetter& dead) {
    const std::size_t first = out.size();
    for (auto& s : slots_) {
        s.error.clear();
    }
    for (auto& s : slots_) {
        const DecodeStatus st = s.entry.decoder->decode(frame, out, s.error);
        if (st == DecodeStatus::Ok) {
            s.frames->inc();
            for (std::size_t i = first; i < out.size(); ++i) {
                if (out[i].time_ns == 0) {
                    out[i].time_ns = frame.arrival_ns;
                }
            }
            return true;
        }
        if (st == DecodeStatus::Broken) {
            s.failures->inc();
            if (s.error.empty()) {
                s.error = "broken (no reason given)";
            }
        }
        // A decoder that broke the contract must not leak half a frame.
        if (out.size() != first) {
            out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
        }
    }
    dead_letters_->inc();

    std::string reason = slots_.empty() ? "no decoders configured" : "no decoder accepted the frame: ";
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        const auto& s = slots_[i];
        if (i > 0) {
            reason += "; ";
        }
        if (s.error.empty()) {
            reason += s.entry.name;
            reason += ": not mine";
        } else {
            // Decoders name themselves in their messages; add the name only
            // where one did not.
            const bool named = s.error.size() > s.entry.name.size() && s.error.starts_with(s.entry.name) &&
                               s.error.compare(s.entry.name.size(), 2, ": ") == 0;
            if (!named) {
                reason += s.entry.name;
                reason += ": ";
            }
            reason += s.error;
        }
    }
    dead.time_ns = frame.arrival_ns;
    dead.origin = frame.origin;
    dead.stage = "decode";
    dead.reason = std::move(reason);
    dead.payload.assign(frame.payload, 0, std::min(frame.payload.size(), kMaxDeadLetterPayload));
    return false;
}

std::vector<DecoderChain::Entry> make_decoder_entries(const Registry& registry,
                                                      std::span<const DecoderConfig> decoders) {
    std::vector<DecoderChain::Entry> entries;
    entries.reserve(decoders.size());
    for (const auto& d : decoders) {
        const Descriptor* desc = registry.find(Kind::Decoder, d.name);
        if (desc == nullptr || !desc->make_decoder) {
            std::string known;
            for (const auto& n : registry.names(Kind::Decoder)) {
                known += known.empty() ? n : ", " + n;
            }
            throw ConfigError(fmt::format("unknown decoder '{}' (known decoders: {})", d.name,
                                          known.empty() ? "none" : known));
        }
        try {
            entries.push_back({d.name, desc->make_decoder(d.options)});
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("decoder '{}': {}", d.name, e.what()));
        }
    }
    return entries;
}

}  // namespace sluice
