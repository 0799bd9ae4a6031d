// The `callback` source: frames or records an embedding program pushes
// through libsluice (sluice::embed::Gateway::push, src/embed). Each push
// returns once all of its frames are committed to the buffer, or is refused
// (busy, stopping). The source itself is core/push_source, shared with the
// `http` source.

#include "core/component.hpp"
#include "core/push_source.hpp"

namespace sluice::components {

const Descriptor& source_callback() {
    static const Descriptor d{
        .kind = Kind::Source,
        .name = "callback",
        .summary = "Takes frames or records that a program embedding sluice (libsluice) pushes; each push returns "
                   "once they are committed",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "None once a push returned committed: it returns only after its frames are committed to the "
                       "buffer. A push cut off by a crash may have been stored; the program pushes it again, which "
                       "may repeat it.",
        .options = push_source_options("callback"),
        .make_source = [](const Options& o) { return make_push_source(o, callback_endpoints()); },
    };
    return d;
}

}  // namespace sluice::components
