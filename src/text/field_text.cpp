#include "text/field_text.hpp"

#include <cstdint>

#include "core/record_json.hpp"

namespace sluice {

void append_field_text(std::string& out, const FieldValue& v) {
    if (const auto* d = std::get_if<double>(&v)) {
        append_double(out, *d);
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        append_int(out, *i);
    } else if (const auto* b = std::get_if<bool>(&v)) {
        out += *b ? "true" : "false";
    } else {
        out += std::get<std::string>(v);
    }
}

std::string field_text(const FieldValue& v) {
    std::string out;
    append_field_text(out, v);
    return out;
}

}  // namespace sluice
