#pragma once
// The fallback chain each source decodes through: every decoder is asked in
// turn until one says Ok. A frame no decoder accepts becomes a dead letter
// whose reason lists every decoder's verdict, so the operator sees why.

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/component.hpp"
#include "core/options.hpp"
#include "core/record.hpp"

namespace sluice {

class Counter;
class Registry;

class DecoderChain {
public:
    struct Entry {
        std::string name;
        std::unique_ptr<Decoder> decoder;
        // The decoder's id in its pipeline (its state's name); empty: name.
        std::string id;
    };

    // Dead letters keep at most this much of the payload.
    static constexpr std::size_t kMaxDeadLetterPayload = 64 * 1024;

    // `metrics_component` is "<pipeline>/<source id>", the metrics label.
    DecoderChain(std::vector<Entry> decoders, std::string metrics_component);

    // Tries each decoder in order. Ok: the records are appended to `out`
    // (time_ns 0 replaced by frame.arrival_ns) and the result is true.
    // Otherwise `dead` describes the frame (stage "decode", the verdict of
    // every decoder, the payload cut to 64 KiB) and the result is false;
    // `out` is unchanged. A Broken verdict does not stop the chain: a later
    // decoder may still read the frame (the failure is counted).
    bool decode(const Frame& frame, std::vector<Record>& out, DeadLetter& dead);
    // Decoder::prefetch() of the first decoder, when it wants it.
    bool wants_prefetch() const { return !slots_.empty() && slots_.front().entry.decoder->wants_prefetch(); }
    void prefetch(std::span<const Frame* const> frames) { slots_.front().entry.decoder->prefetch(frames); }

    // Opens every decoder before the first frame. A decoder's state is
    // stored under "<state_prefix>/decoder/<id>"; `load_state(namespace,
    // fn)` reads it.
    using StateLoader = std::function<void(
        std::string_view ns, const std::function<void(std::string_view key, std::string_view value)>& fn)>;
    void open(const std::string& state_prefix, const StateLoader& load_state, const WaitHooks& wait = {});
    // Moves the decoders' state changes since the last call to `out`, each
    // under its decoder's namespace.
    void take_state(std::vector<std::pair<std::string, StateChange>>& out);

    std::size_t size() const { return slots_.size(); }
    const std::string& component() const { return component_; }

private:
    struct Slot {
        Entry entry;
        Counter* frames = nullptr;
        Counter* failures = nullptr;
        std::string error;  // reused: the decoder's last Broken reason
        std::string state_ns;
    };
    std::vector<StateChange> changes_;  // reused by take_state

    std::vector<Slot> slots_;
    std::string component_;
    Counter* dead_letters_ = nullptr;
};

// One decoder of a chain as configured: its registry name and resolved options.
struct DecoderConfig {
    std::string name;
    Options options;
};

// Builds chain entries through the decoders' descriptors. Throws ConfigError
// for a name that is not a registered decoder, and passes on a factory's
// ConfigError prefixed with "decoder '<name>': ".
std::vector<DecoderChain::Entry> make_decoder_entries(const Registry& registry,
                                                      std::span<const DecoderConfig> decoders);

}  // namespace sluice
