#include "expr/units.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>

namespace sluice::expr {
namespace {

enum class Quantity { Temperature, Pressure, Length, Speed, Mass, Energy, Power, Voltage, Current, Time, Ratio };

struct Unit {
    std::string_view name;
    Quantity q;
    double factor;  // base = value * factor + offset
    double offset;
};

constexpr Unit kUnits[] = {
    {"K", Quantity::Temperature, 1, 0},
    {"C", Quantity::Temperature, 1, 273.15},
    {"degC", Quantity::Temperature, 1, 273.15},
    {"\xC2\xB0" "C", Quantity::Temperature, 1, 273.15},
    {"F", Quantity::Temperature, 5.0 / 9.0, 459.67 * 5.0 / 9.0},
    {"degF", Quantity::Temperature, 5.0 / 9.0, 459.67 * 5.0 / 9.0},
    {"\xC2\xB0" "F", Quantity::Temperature, 5.0 / 9.0, 459.67 * 5.0 / 9.0},
    {"Pa", Quantity::Pressure, 1, 0},
    {"hPa", Quantity::Pressure, 100, 0},
    {"kPa", Quantity::Pressure, 1000, 0},
    {"MPa", Quantity::Pressure, 1e6, 0},
    {"bar", Quantity::Pressure, 1e5, 0},
    {"mbar", Quantity::Pressure, 100, 0},
    {"psi", Quantity::Pressure, 6894.757293168361, 0},
    {"atm", Quantity::Pressure, 101325, 0},
    {"mmHg", Quantity::Pressure, 133.322387415, 0},
    {"inHg", Quantity::Pressure, 3386.388640341, 0},
    {"m", Quantity::Length, 1, 0},
    {"cm", Quantity::Length, 0.01, 0},
    {"mm", Quantity::Length, 0.001, 0},
    {"km", Quantity::Length, 1000, 0},
    {"in", Quantity::Length, 0.0254, 0},
    {"ft", Quantity::Length, 0.3048, 0},
    {"mi", Quantity::Length, 1609.344, 0},
    {"m/s", Quantity::Speed, 1, 0},
    {"km/h", Quantity::Speed, 1.0 / 3.6, 0},
    {"mph", Quantity::Speed, 0.44704, 0},
    {"kn", Quantity::Speed, 1852.0 / 3600.0, 0},
    {"kg", Quantity::Mass, 1, 0},
    {"g", Quantity::Mass, 0.001, 0},
    {"mg", Quantity::Mass, 1e-6, 0},
    {"lb", Quantity::Mass, 0.45359237, 0},
    {"oz", Quantity::Mass, 0.028349523125, 0},
    {"J", Quantity::Energy, 1, 0},
    {"kJ", Quantity::Energy, 1000, 0},
    {"Wh", Quantity::Energy, 3600, 0},
    {"kWh", Quantity::Energy, 3.6e6, 0},
    {"W", Quantity::Power, 1, 0},
    {"mW", Quantity::Power, 0.001, 0},
    {"kW", Quantity::Power, 1000, 0},
    {"V", Quantity::Voltage, 1, 0},
    {"mV", Quantity::Voltage, 0.001, 0},
    {"A", Quantity::Current, 1, 0},
    {"mA", Quantity::Current, 0.001, 0},
    {"s", Quantity::Time, 1, 0},
    {"ms", Quantity::Time, 0.001, 0},
    {"min", Quantity::Time, 60, 0},
    {"h", Quantity::Time, 3600, 0},
    {"ratio", Quantity::Ratio, 1, 0},
    {"%", Quantity::Ratio, 0.01, 0},
    {"ppm", Quantity::Ratio, 1e-6, 0},
};

const Unit* find_unit(std::string_view name) {
    for (const auto& u : kUnits) {
        if (u.name == name) {
            return &u;
        }
    }
    return nullptr;
}

}  // namespace


std::optional<double> convert_unit(double v, std::string_view from, std::string_view to) {
    const Unit* a = find_unit(from);
    const Unit* b = find_unit(to);
    if (a == nullptr || b == nullptr || a->q != b->q) {
        return std::nullopt;
    }
    if (a->factor == b->factor && a->offset == b->offset) {
        return v;
    }
    if (a->q == Quantity::Temperature) {
        // The textbook formulas: exact for the usual values (20 C is 68 F).
        const char fa = a->name.back() == 'K' ? 'K' : a->name.back();
        const char fb = b->name.back() == 'K' ? 'K' : b->name.back();
        const double celsius = fa == 'C' ? v : (fa == 'F' ? (v - 32) * 5 / 9 : v - 273.15);
        return fb == 'C' ? celsius : (fb == 'F' ? celsius * 9 / 5 + 32 : celsius + 273.15);
    }
    return v * a->factor / b->factor;
}

std::string check_units(std::string_view from, std::string_view to) {
    const Unit* a = find_unit(from);
    const Unit* b = find_unit(to);
    auto unknown = [](std::string_view u) {
        std::vector<std::string_view> names;
        for (const auto& x : kUnits) {
            names.push_back(x.name);
        }
        std::string msg = fmt::format("unknown unit '{}'", u);
        return msg + fmt::format(" (units: {})", fmt::join(names, ", "));
    };
    if (a == nullptr) {
        return unknown(from);
    }
    if (b == nullptr) {
        return unknown(to);
    }
    if (a->q != b->q) {
        return fmt::format("cannot convert '{}' to '{}': they measure different quantities", from, to);
    }
    return {};
}

}  // namespace sluice::expr
