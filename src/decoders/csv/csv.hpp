#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/component.hpp"

namespace sluice::decoders {

struct CsvConfig {
    // Column names. Empty: the first line from each origin is the header.
    std::vector<std::string> columns;
    std::string separator = ",";
    // "21,5" is 21.5. Needs a separator other than ",".
    bool decimal_comma = false;
    // With `columns`: the first line from each origin is a header to skip.
    bool header = false;
    // Origins whose header/first-line state is remembered; the least
    // recently seen one is forgotten beyond this.
    std::size_t max_origins = 256;
};

// Throws ConfigError for contradictory settings (see CsvConfig).
std::unique_ptr<Decoder> make_csv_decoder(CsvConfig config);

}  // namespace sluice::decoders

namespace sluice::components {
const Descriptor& decoder_csv();
}  // namespace sluice::components
