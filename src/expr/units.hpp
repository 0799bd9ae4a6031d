#pragma once
// Units of measurement for convert() in expressions and the map stage's
// `convert` option.

#include <optional>
#include <string>
#include <string_view>

namespace sluice::expr {

// Converts between units of the same quantity: temperature (C, F, K),
// pressure (Pa, hPa, kPa, MPa, bar, mbar, psi, atm, mmHg, inHg), length (m,
// cm, mm, km, in, ft, mi), speed (m/s, km/h, mph, kn), mass (kg, g, mg, lb,
// oz), energy (J, kJ, Wh, kWh), power (W, mW, kW), voltage (V, mV), current
// (A, mA), time (s, ms, min, h), ratio (ratio, %, ppm). Unit names are case
// sensitive; "degC"/"°C" and the like are accepted too.
std::optional<double> convert_unit(double v, std::string_view from, std::string_view to);
// Empty if the conversion is possible, else why not.
std::string check_units(std::string_view from, std::string_view to);

}  // namespace sluice::expr
