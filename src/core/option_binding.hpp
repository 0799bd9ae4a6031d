#pragma once
// Typed option binding: a component declares each option once, together with
// the field of its settings struct that the option fills (the way Fluent
// Bit's config_map binds options to struct offsets). The binding yields the
// OptionSpec table for the descriptor and reads resolved Options into the
// struct, so no option name is written twice and no value is read by string
// in a constructor.
//
//   struct Settings { std::string path; std::uint64_t max_size = 0; bool fsync = true; };
//   const OptionBinding<Settings>& settings() {
//       static const auto b = OptionBinding<Settings>()
//           .field(&Settings::path, {.name = "path", .type = OptionType::String, ...})
//           .field(&Settings::max_size, {.name = "max_size", .type = OptionType::Size, ...});
//       return b;
//   }
//   Descriptor{... .options = settings().specs(), .make_sink = [](const Options& o) { ... settings().bind(o) ...}};
//
// An option without a value (unset and no default) leaves its field as the
// struct initialises it. Ranges and choices are checked before binding
// (resolve_options), so binding itself cannot fail.

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "core/options.hpp"

namespace sluice {

namespace option_binding_detail {

template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};

template <class T>
inline constexpr bool unsupported = false;

// Whether a field of type T can hold an option of type `type` (checked once,
// when the binding is built).
template <class T>
bool holds(OptionType type) {
    if constexpr (std::is_same_v<T, bool>) {
        return type == OptionType::Bool;
    } else if constexpr (std::is_same_v<T, std::string>) {
        return type == OptionType::String || type == OptionType::Secret || type == OptionType::Enum;
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        return type == OptionType::List;
    } else if constexpr (is_duration<T>::value) {
        return type == OptionType::Duration;
    } else if constexpr (std::is_floating_point_v<T>) {
        return type == OptionType::Float || type == OptionType::Int;
    } else if constexpr (std::is_integral_v<T>) {
        return type == OptionType::Int || type == OptionType::Size;
    } else {
        static_assert(unsupported<T>, "no option type binds to this field type");
        return false;
    }
}

template <class T>
void read(const Options& o, std::string_view name, OptionType type, T& out) {
    if constexpr (std::is_same_v<T, bool>) {
        out = o.boolean(name);
    } else if constexpr (std::is_same_v<T, std::string>) {
        out = o.str(name);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        out = o.list(name);
    } else if constexpr (is_duration<T>::value) {
        out = std::chrono::duration_cast<T>(o.duration(name));
    } else if constexpr (std::is_floating_point_v<T>) {
        out = static_cast<T>(o.number(name));
    } else if constexpr (std::is_integral_v<T>) {
        if (type == OptionType::Size) {
            // A size held in a narrower field (size_t on a 32-bit target)
            // becomes the largest value rather than wrapping around.
            const std::uint64_t bytes = o.size(name);
            out = static_cast<T>(std::min<std::uint64_t>(bytes, std::numeric_limits<T>::max()));
        } else {
            out = static_cast<T>(o.integer(name));
        }
    }
}

}  // namespace option_binding_detail

template <class Settings>
class OptionBinding {
public:
    // Adds an option and the field it fills; options keep this order in the
    // descriptor, `sluice components` and the docs.
    template <class T>
    OptionBinding field(T Settings::*member, OptionSpec spec) const {
        assert(option_binding_detail::holds<T>(spec.type) && "the field's type does not hold this option type");
        OptionBinding out = *this;
        out.specs_.push_back(spec);
        out.readers_.push_back([member, spec](const Options& o, Settings& s) {
            if (o.has(spec.name)) {
                option_binding_detail::read(o, spec.name, spec.type, s.*member);
            }
        });
        return out;
    }

    const std::vector<OptionSpec>& specs() const { return specs_; }

    Settings bind(const Options& o) const {
        Settings s{};
        for (const auto& read : readers_) {
            read(o, s);
        }
        return s;
    }

private:
    std::vector<OptionSpec> specs_;
    std::vector<std::function<void(const Options&, Settings&)>> readers_;
};

}  // namespace sluice
