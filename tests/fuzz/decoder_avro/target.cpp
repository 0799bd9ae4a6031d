// The avro decoder on arbitrary bytes, against the test schema of
// tests/unit/avro_writer.hpp (every kind of type, logical types, a
// recursive record): once as plain binary, once in the Confluent wire format
// (schema ids 1 to 3: nested maps of arrays of unions; values that take no
// bytes, decimals and dates). The decoder contract of ../decoder_contract.hpp.
#include <cstdint>

#include "decoders/avro/avro.hpp"
#include "../decoder_contract.hpp"
#include "../../unit/avro_writer.hpp"

namespace {

std::unique_ptr<sluice::Decoder> make(bool confluent) {
    sluice::decoders::AvroConfig c;
    auto schema = sluice::decoders::avro::Schema::parse(sluice::testing::avro::kSchema);
    if (confluent) {
        c.schemas.emplace(1, schema);
        c.schemas.emplace(2, sluice::decoders::avro::Schema::parse(
                                 R"({"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map",
                                 "values":{"type":"array","items":["null","long","R"]}}}]})"));
        // Values that take no bytes, decimals, dates.
        c.schemas.emplace(3, sluice::decoders::avro::Schema::parse(
                                 R"({"type":"record","name":"Z","fields":[
                                 {"name":"n","type":{"type":"array","items":"null"}},
                                 {"name":"e","type":{"type":"array","items":{"type":"record","name":"E","fields":[]}}},
                                 {"name":"f0","type":{"type":"fixed","name":"F0","size":0}},
                                 {"name":"d","type":{"type":"fixed","name":"D","size":9,"logicalType":"decimal",
                                   "precision":20,"scale":3}},
                                 {"name":"b","type":{"type":"bytes","logicalType":"decimal","precision":40,"scale":1}},
                                 {"name":"day","type":{"type":"int","logicalType":"date"}},
                                 {"name":"t","type":["null",{"type":"long","logicalType":"timestamp-nanos"}]}]})"));
    } else {
        c.schema = std::move(schema);
    }
    return sluice::decoders::make_avro_decoder(std::move(c));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto plain = make(false);
    static const auto confluent = make(true);
    sluice::fuzz::check_decoder(*plain, data, size);
    sluice::fuzz::check_decoder(*confluent, data, size);
    return 0;
}
