// The `http` source: frames POSTed to the gateway's own HTTP API
// (POST /api/send/..., see src/http/send_api.cpp), answered once committed.
// The source itself is core/push_source, shared with the `callback` source.

#include "core/component.hpp"
#include "core/push_source.hpp"

namespace sluice::components {

const Descriptor& source_http() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "http",
        .summary = "Takes frames POSTed to the gateway's HTTP API (/api/send/<pipeline>), one per request or an "
                   "NDJSON batch; answers 200 once they are committed",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "None once a request got 200: the answer is sent only after its frames are committed to the "
                       "buffer. A request cut off before its answer (crash, timeout) may have been stored; the "
                       "client sends it again, which may repeat it.",
        .options = push_source_options("http"),
        .make_source = [](const Options& o) { return make_push_source(o, push_endpoints()); },
    };
    return d;
}

}  // namespace sluice::components
