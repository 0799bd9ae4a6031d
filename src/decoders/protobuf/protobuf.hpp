#pragma once

#include <memory>
#include <string>

#include "core/component.hpp"
#include "decoders/protobuf/schema.hpp"

namespace sluice::decoders {

struct ProtobufConfig {
    pb::Schema schema;  // messages[0] is the frame's message type
    // Joins the names of nested messages, repeated indices and map keys.
    std::string separator = ".";
    // A repeated message field of the frame's message whose elements are
    // the records (the message's other fields go into each); empty: the
    // frame's message is the record.
    std::string records_field;
};

// Throws ConfigError when records_field is not a repeated message field.
std::unique_ptr<Decoder> make_protobuf_decoder(ProtobufConfig config);

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_protobuf();
}  // namespace sluice::components
