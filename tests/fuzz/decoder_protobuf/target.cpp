// The protobuf decoder on arbitrary bytes, against the test schema of
// tests/unit/protobuf_writer.hpp (nested, recursive, packed, maps, enums,
// Timestamps, wrappers): once as plant.Reading, once as plant.Batch with
// its readings as the records. The decoder contract of ../decoder_contract.hpp.
#include <cstdint>

#include "decoders/protobuf/protobuf.hpp"
#include "../decoder_contract.hpp"
#include "../../unit/protobuf_writer.hpp"

namespace {

std::unique_ptr<sluice::Decoder> make(std::string_view message, std::string records_field) {
    sluice::decoders::ProtobufConfig c;
    c.schema = sluice::decoders::pb::Schema::load(sluice::testing::pb::plant_descriptor_set(), message);
    c.records_field = std::move(records_field);
    return sluice::decoders::make_protobuf_decoder(std::move(c));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto reading = make("plant.Reading", "");
    static const auto batch = make("plant.Batch", "readings");
    sluice::fuzz::check_decoder(*reading, data, size);
    sluice::fuzz::check_decoder(*batch, data, size);
    return 0;
}
