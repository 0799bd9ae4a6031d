// The sparkplug_b decoder on arbitrary payloads: the first byte picks the
// topic (every message type of one edge node and device, STATE, malformed
// topics), the rest is the payload. One decoder for the whole run, so BIRTHs
// of earlier inputs shape how later DATA is read, as on a live broker; every
// few inputs its state goes through take_state and a fresh decoder's open(),
// as across a restart. The decoder contract of ../decoder_contract.hpp.
#include <array>
#include <cstdlib>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "decoders/sparkplug_b/sparkplug_b.hpp"
#include "../decoder_contract.hpp"

namespace {

const std::array<std::string, 16> kTopics = {
    "spBv1.0/plant/NBIRTH/gw1",      "spBv1.0/plant/NDATA/gw1",        "spBv1.0/plant/NDEATH/gw1",
    "spBv1.0/plant/DBIRTH/gw1/pump", "spBv1.0/plant/DDATA/gw1/pump",   "spBv1.0/plant/DDEATH/gw1/pump",
    "spBv1.0/plant/NCMD/gw1",        "spBv1.0/plant/DCMD/gw1/pump",    "spBv1.0/STATE/scada",
    "spBv1.0/plant/DDATA/gw1",       "spBv1.0/plant/NBIRTH/gw2/extra", "not/sparkplug",
    "spBv1.0/plant/NBIRTH/gw2",      "spBv1.0/plant/DBIRTH/gw2/fan",   "spBv1.0/plant/DDATA/gw2/fan",
    "STATE/scada",
};

struct Harness {
    std::map<std::string, std::string> stored;
    std::unique_ptr<sluice::Decoder> decoder;
    unsigned inputs = 0;

    void reopen() {
        sluice::decoders::SparkplugConfig c;
        c.max_sessions = 3;  // fewer than the topics can be born: evictions
        decoder = sluice::decoders::make_sparkplug_decoder(c);
        sluice::DecoderContext ctx;
        ctx.component = "fuzz/sparkplug";
        ctx.load_state = [this](const std::function<void(std::string_view, std::string_view)>& fn) {
            for (const auto& [k, v] : stored) {
                fn(k, v);
            }
        };
        decoder->open(ctx);
    }
    void commit() {
        std::vector<sluice::StateChange> changes;
        decoder->take_state(changes);
        for (const auto& c : changes) {
            if (c.erase) {
                stored.erase(c.key);
            } else {
                stored[c.key] = c.value;
            }
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Harness h = [] {
        Harness x;
        x.reopen();
        return x;
    }();
    if (size == 0) {
        return 0;
    }
    const std::string& topic = kTopics[data[0] % kTopics.size()];
    // A frame that is not Ok changes no state.
    sluice::Frame f;
    f.origin = topic;
    f.payload.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    std::vector<sluice::Record> out;
    std::string error;
    h.commit();
    const auto st = h.decoder->decode(f, out, error);
    std::vector<sluice::StateChange> changes;
    h.decoder->take_state(changes);
    if (st != sluice::DecodeStatus::Ok && !changes.empty()) {
        std::abort();
    }
    for (const auto& c : changes) {
        c.erase ? (void)h.stored.erase(c.key) : (void)(h.stored[c.key] = c.value);
    }
    sluice::fuzz::check_decoder(*h.decoder, data + 1, size - 1, topic);
    h.commit();
    if (++h.inputs % 64 == 0) {
        h.reopen();
    }
    return 0;
}
