#include "core/component.hpp"

namespace sluice {

std::string_view kind_name(Kind k) {
    switch (k) {
        case Kind::Source:
            return "source";
        case Kind::Decoder:
            return "decoder";
        case Kind::Stage:
            return "stage";
        case Kind::Sink:
            return "sink";
    }
    return "component";
}

std::string_view delivery_name(Delivery d) {
    switch (d) {
        case Delivery::NotApplicable:
            return "n/a";
        case Delivery::AtLeastOnce:
            return "at-least-once";
        case Delivery::BestEffort:
            return "best-effort";
    }
    return "n/a";
}

}  // namespace sluice
