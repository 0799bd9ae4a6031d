#include "decoders/scalar/scalar.hpp"

#include <string_view>

#include "decoders/decoder_options.hpp"
#include "text/text_value.hpp"

namespace sluice::decoders {

namespace {

class ScalarDecoder final : public Decoder {
public:
    explicit ScalarDecoder(ScalarConfig c) : cfg_(std::move(c)) {}

    DecodeStatus decode(const Frame& frame, std::vector<Record>& out, std::string&) override {
        std::string_view s = frame.payload;
        // A trailing newline is how most devices end a reading.
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
            s.remove_suffix(1);
        }
        while (!s.empty() && (s.front() == '\n' || s.front() == '\r' || s.front() == ' ' || s.front() == '\t')) {
            s.remove_prefix(1);
        }
        std::optional<FieldValue> v = parse_number(s);
        if (!v) {
            if (auto b = parse_bool(s)) {
                v = FieldValue{*b};
            }
        }
        if (!v) {
            return DecodeStatus::NotMine;
        }
        Record& r = out.emplace_back();
        r.origin = frame.origin;
        r.fields.push_back(Field{cfg_.field, std::move(*v)});
        return DecodeStatus::Ok;
    }

private:
    ScalarConfig cfg_;
};

}  // namespace

std::unique_ptr<Decoder> make_scalar_decoder(ScalarConfig config) {
    if (config.field.empty()) {
        throw ConfigError("field must not be empty");
    }
    return std::make_unique<ScalarDecoder>(std::move(config));
}

}  // namespace sluice::decoders

namespace sluice::components {

const Descriptor& decoder_scalar() {
    static const Descriptor d = [] {
        Descriptor d;
        d.kind = Kind::Decoder;
        d.name = "scalar";
        d.summary = "A payload that is just one number or true/false, stored as one field";
        d.options = {
            OptionSpec{.name = "field",
                       .type = OptionType::String,
                       .default_value = "value",
                       .doc = "Name of the field that holds the value.",
                       .min = 1},
        };
        d.make_decoder = [](const Options& o) -> std::unique_ptr<Decoder> {
            decoders::ScalarConfig c;
            c.field = decoders::option_string(o, "field", "value");
            return decoders::make_scalar_decoder(std::move(c));
        };
        return d;
    }();
    return d;
}

}  // namespace sluice::components
