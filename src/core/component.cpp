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

}  // namespace sluice
