// The expression language of filter/join/map (expr/expr.hpp) and the
// "{name}" templates (text/template.hpp) on arbitrary text: parse, then evaluate against a fixed record.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "expr/expr.hpp"
#include "text/template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (size > 8 * 1024) {
        return 0;
    }
    sluice::Record r;
    r.time_ns = 1'700'000'000'000'000'000;
    r.measurement = "temperature";
    r.origin = "sensors/n1";
    r.tags = {{"node", "n1"}, {"level", "3"}};
    r.fields = {{"value", 21.5}, {"count", std::int64_t{7}}, {"ok", true}, {"text", std::string("abc")}};
    std::string error;
    if (auto e = sluice::expr::Expression::parse(text, &error)) {
        (void)e->eval(r);
        (void)e->test(r);
    }
    if (auto k = sluice::Template::parse(text, &error)) {
        std::string key;
        (void)k->render(r, key);
        (void)k->missing_name(r);
    }
    const auto nl = text.find('\n');
    if (nl != std::string_view::npos) {
        (void)sluice::expr::check_units(text.substr(0, nl), text.substr(nl + 1));
        (void)sluice::expr::convert_unit(1.5, text.substr(0, nl), text.substr(nl + 1));
    }
    return 0;
}
