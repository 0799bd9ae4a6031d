// The `record` decoder: frames in sluice's own binary record form (see
// record_decoder.hpp), as the `stream` source makes them.

#include "decoders/record/record_decoder.hpp"

#include "buffer/buffer.hpp"
#include "core/component.hpp"

namespace sluice::components {
namespace {

class RecordDecoder final : public Decoder {
public:
    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string& error) override {
        const std::string_view in(frame.payload);
        if (!in.starts_with(decoders::kRecordFrameMarker)) {
            return DecodeStatus::NotMine;
        }
        if (!decode_record(in.substr(decoders::kRecordFrameMarker.size()), scratch_)) {
            error = "record: malformed binary record";
            return DecodeStatus::Broken;
        }
        out.push_back(std::move(scratch_));
        scratch_ = Record{};
        return DecodeStatus::Ok;
    }

private:
    Record scratch_;
};

}  // namespace

const Descriptor& decoder_record() {
    static const Descriptor d{
        .kind = Kind::Decoder,
        .name = "record",
        .summary = "sluice's own binary record form (what the `stream` source carries between pipelines)",
        .make_decoder = [](const Options&) { return std::make_unique<RecordDecoder>(); },
    };
    return d;
}

}  // namespace sluice::components
