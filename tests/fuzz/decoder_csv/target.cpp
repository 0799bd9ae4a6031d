// The CSV decoder on arbitrary bytes. The first byte picks the origin (out
// of more origins than the decoder remembers, so eviction is exercised) and
// which of two configurations reads the rest.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "decoders/csv/csv.hpp"

namespace {

std::unique_ptr<sluice::Decoder> make_auto_header() {
    sluice::decoders::CsvConfig c;
    c.max_origins = 4;
    return sluice::decoders::make_csv_decoder(c);
}

std::unique_ptr<sluice::Decoder> make_columns() {
    sluice::decoders::CsvConfig c;
    c.columns = {"time", "sensor", "temp"};
    c.separator = ";";
    c.decimal_comma = true;
    c.header = true;
    c.max_origins = 4;
    return sluice::decoders::make_csv_decoder(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto auto_header = make_auto_header();
    static const auto columns = make_columns();
    if (size == 0) {
        return 0;
    }
    const std::uint8_t selector = data[0];
    sluice::Frame f;
    f.payload.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    f.origin = "o" + std::to_string(selector % 8);
    sluice::Decoder& decoder = (selector & 0x80) != 0 ? *columns : *auto_header;
    std::vector<sluice::Record> out(1);
    std::string error;
    const auto st = decoder.decode(f, out, error);
    if (st != sluice::DecodeStatus::Ok && out.size() != 1) {
        std::abort();
    }
    if (st == sluice::DecodeStatus::Broken && error.empty()) {
        std::abort();
    }
    for (std::size_t i = 1; i < out.size(); ++i) {
        if (out[i].origin != f.origin) {
            std::abort();
        }
    }
    return 0;
}
