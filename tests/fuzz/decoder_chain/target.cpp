// The full default-style chain on arbitrary bytes: a frame is either decoded
// (every record timed) or becomes a dead letter with a reason.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "decoders/avro/avro.hpp"
#include "decoders/cbor/cbor.hpp"
#include "decoders/chain.hpp"
#include "decoders/csv/csv.hpp"
#include "decoders/influx/influx.hpp"
#include "decoders/json/json.hpp"
#include "decoders/logfmt/logfmt.hpp"
#include "decoders/msgpack/msgpack.hpp"
#include "decoders/protobuf/protobuf.hpp"
#include "decoders/scalar/scalar.hpp"
#include "../../unit/avro_writer.hpp"
#include "../../unit/protobuf_writer.hpp"

namespace {

sluice::DecoderChain make_chain() {
    std::vector<sluice::DecoderChain::Entry> e;
    e.push_back({"json", sluice::decoders::make_json_decoder()});
    e.push_back({"cbor", sluice::decoders::make_cbor_decoder()});
    e.push_back({"msgpack", sluice::decoders::make_msgpack_decoder()});
    sluice::decoders::ProtobufConfig pb;
    pb.schema = sluice::decoders::pb::Schema::load(sluice::testing::pb::plant_descriptor_set(), "plant.Reading");
    e.push_back({"protobuf", sluice::decoders::make_protobuf_decoder(std::move(pb))});
    sluice::decoders::AvroConfig avro;
    avro.schema = sluice::decoders::avro::Schema::parse(sluice::testing::avro::kSchema);
    e.push_back({"avro", sluice::decoders::make_avro_decoder(std::move(avro))});
    e.push_back({"influx", sluice::decoders::make_influx_decoder()});
    e.push_back({"csv", sluice::decoders::make_csv_decoder({})});
    e.push_back({"logfmt", sluice::decoders::make_logfmt_decoder()});
    e.push_back({"scalar", sluice::decoders::make_scalar_decoder()});
    return sluice::DecoderChain(std::move(e), "fuzz/chain");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto chain = make_chain();
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data), size);
    f.origin = "fuzz";
    f.arrival_ns = 1;
    std::vector<sluice::Record> out(1);
    sluice::DeadLetter dead;
    if (chain.decode(f, out, dead)) {
        for (std::size_t i = 1; i < out.size(); ++i) {
            if (out[i].time_ns == 0 || out[i].origin != "fuzz") {
                std::abort();
            }
        }
        return 0;
    }
    if (out.size() != 1 || dead.reason.empty() || dead.stage != "decode" || dead.origin != "fuzz" ||
        dead.time_ns != 1 || dead.payload.size() > sluice::DecoderChain::kMaxDeadLetterPayload ||
        f.payload.compare(0, dead.payload.size(), dead.payload) != 0) {
        std::abort();
    }
    return 0;
}
