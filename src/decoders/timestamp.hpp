#pragma once
// Time fields: which field is the record's time, and how numbers and texts
// become nanoseconds since the epoch. Shared by every decoder so that the
// same value means the same instant everywhere.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/record.hpp"

namespace sluice::decoders {

enum class EpochUnit { Auto, Seconds, Millis, Micros, Nanos };

// "auto", "s", "ms", "us", "ns"; nullopt for anything else.
std::optional<EpochUnit> parse_epoch_unit(std::string_view text);

// An epoch number in `unit`. Auto picks the unit from the magnitude:
// |v| < 1e11 seconds, < 1e14 milliseconds, < 1e17 microseconds, else
// nanoseconds. nullopt when the instant does not fit in int64 nanoseconds
// (years 1677..2262) or the number is not finite.
std::optional<TimeNs> epoch_to_ns(std::int64_t v, EpochUnit unit = EpochUnit::Auto);
std::optional<TimeNs> epoch_to_ns(double v, EpochUnit unit = EpochUnit::Auto);

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    // Counting years from March puts the leap day at the end of the year,
    // so the day-of-year formula needs no leap-year branch.
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto year_of_era = static_cast<std::uint64_t>(y - era * 400);
    const std::uint64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const std::uint64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + static_cast<std::int64_t>(day_of_era) - 719468;
}

// ISO 8601 / RFC 3339: "2026-11-22", "2026-11-22T06:10", "2026-11-22T06:10:00Z",
// "2026-11-22 06:10:00.123456789+01:00", offsets as Z, +HH:MM, +HHMM or +HH.
// No offset means UTC (a gateway must not depend on its own time zone).
std::optional<TimeNs> parse_iso8601(std::string_view text);

// A field value as a time: numbers are epochs (unit by magnitude), strings
// are ISO 8601 or a number written as text. Booleans are never times.
std::optional<TimeNs> value_to_time(const FieldValue& v);

// Moves the record's time field into time_ns: the first field named "time",
// else "timestamp", else "ts", else "datetime". Returns an error text
// ("field 'ts': cannot read 'soon' as a time") when that field is there but
// is not a time; the record is then left as it was.
std::optional<std::string> take_time_field(Record& r);

}  // namespace sluice::decoders
