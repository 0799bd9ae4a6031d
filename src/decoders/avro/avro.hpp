#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/component.hpp"
#include "decoders/avro/schema.hpp"

namespace sluice::decoders {

struct AvroConfig {
    // Plain binary encoding: every frame is one datum of this schema.
    std::optional<avro::Schema> schema;
    // The Confluent wire format: a zero byte, the schema id (4 bytes, big
    // endian), the datum; the schemas by id. Used when `schema` is unset.
    std::map<std::uint32_t, avro::Schema> schemas;
    // Joins the names of nested records, array indices and map keys.
    std::string separator = ".";
};

std::unique_ptr<Decoder> make_avro_decoder(AvroConfig config);

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_avro();
}  // namespace sluice::components
