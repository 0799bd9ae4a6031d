#include "decoders/json_record.hpp"

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "decoders/timestamp.hpp"

namespace sluice::decoders {
namespace {

// A scalar as tag text; false for null, objects and arrays.
bool tag_text(const JsonValue& v, std::string& out) {
    out.clear();
    if (const auto* s = std::get_if<std::string>(&v.v)) {
        out = *s;
    } else if (const auto* i = std::get_if<std::int64_t>(&v.v)) {
        append_int(out, *i);
    } else if (const auto* d = std::get_if<double>(&v.v)) {
        append_double(out, *d);
    } else if (const auto* b = std::get_if<bool>(&v.v)) {
        out = *b ? "true" : "false";
    } else {
        return false;
    }
    return true;
}

}  // namespace

bool record_from_json(const JsonValue& v, Record& r, std::string& error) {
    const auto* obj = v.object();
    if (obj == nullptr) {
        error = "a record must be a JSON object";
        return false;
    }
    for (const auto& [key, value] : *obj) {
        if (key == "time") {
            std::optional<TimeNs> t;
            if (const auto* s = value.string()) {
                t = parse_iso8601(*s);
            } else if (const auto* i = std::get_if<std::int64_t>(&value.v)) {
                t = epoch_to_ns(*i);
            } else if (const auto* d = std::get_if<double>(&value.v)) {
                t = epoch_to_ns(*d);
            }
            if (!t) {
                error = "'time' is not an RFC 3339 time or an epoch number";
                return false;
            }
            r.time_ns = *t;
        } else if (key == "measurement" || key == "origin") {
            const auto* s = value.string();
            if (s == nullptr) {
                error = fmt::format("'{}' must be a string", key);
                return false;
            }
            (key == "measurement" ? r.measurement : r.origin) = *s;
        } else if (key == "tags") {
            const auto* tags = value.object();
            if (tags == nullptr) {
                error = "'tags' must be an object";
                return false;
            }
            r.tags.clear();
            for (const auto& [name, tv] : *tags) {
                Tag t{name, {}};
                if (!tag_text(tv, t.value)) {
                    error = fmt::format("tag '{}' must be a string, number or boolean", name);
                    return false;
                }
                r.tags.push_back(std::move(t));
            }
        } else if (key == "fields") {
            const auto* fields = value.object();
            if (fields == nullptr) {
                error = "'fields' must be an object";
                return false;
            }
            r.fields.clear();
            for (const auto& [name, fv] : *fields) {
                if (std::holds_alternative<std::nullptr_t>(fv.v)) {
                    continue;
                }
                FieldValue val;
                if (const auto* s = std::get_if<std::string>(&fv.v)) {
                    val = *s;
                } else if (const auto* i = std::get_if<std::int64_t>(&fv.v)) {
                    val = *i;
                } else if (const auto* d = std::get_if<double>(&fv.v)) {
                    val = *d;
                } else if (const auto* b = std::get_if<bool>(&fv.v)) {
                    val = *b;
                } else {
                    error = fmt::format("field '{}' must be a number, string or boolean", name);
                    return false;
                }
                r.fields.push_back({name, std::move(val)});
            }
        } else {
            error = fmt::format("unknown member '{}' (a record has time, measurement, origin, tags and fields)",
                                key);
            return false;
        }
    }
    return true;
}

namespace {

// Each record of an answer starts as a copy of the input (the stage): a
// bound on them bounds what a short answer of many "{}" can cost.
constexpr std::size_t kMaxAnswerRecords = 10'000;

// The records of `arr`, each starting from `base`, appended to `out` (all
// or none).
bool records_from_array(const JsonValue::Array& arr, const Record& base, std::vector<Record>& out,
                        std::string& error) {
    if (arr.size() > kMaxAnswerRecords) {
        error = fmt::format("an answer gives {} records, more than {}", arr.size(), kMaxAnswerRecords);
        return false;
    }
    const std::size_t before = out.size();
    std::string why;
    for (std::size_t i = 0; i < arr.size(); ++i) {
        out.push_back(base);
        if (!record_from_json(arr[i], out.back(), why)) {
            out.resize(before);
            error = fmt::format("record {} of the answer: {}", i, why);
            return false;
        }
    }
    return true;
}

// The text of an {"error": "..."} answer, cut to 1 KiB; nullptr if `v` is not one.
const std::string* error_member(const JsonValue& v) {
    const JsonValue* e = v.get("error");
    return e != nullptr ? e->string() : nullptr;
}

constexpr std::size_t kMaxReason = 1024;

}  // namespace

DecodeStatus read_decoder_answer(std::string_view line, const Record& base, std::vector<Record>& out,
                                 std::string& error) {
    std::string why;
    const auto v = parse_json(line, &why);
    if (!v) {
        error = fmt::format("the answer is not JSON: {}", why);
        return DecodeStatus::Broken;
    }
    if (const JsonValue* records = v->get("records"); records != nullptr && records->array() != nullptr) {
        return records_from_array(*records->array(), base, out, error) ? DecodeStatus::Ok : DecodeStatus::Broken;
    }
    if (const auto* e = error_member(*v)) {
        error = e->substr(0, kMaxReason);
        return DecodeStatus::Broken;
    }
    if (const JsonValue* nm = v->get("not_mine"); nm != nullptr && std::holds_alternative<bool>(nm->v) &&
                                                   std::get<bool>(nm->v)) {
        return DecodeStatus::NotMine;
    }
    error = R"(an answer is {"records":[...]}, {"error":"..."} or {"not_mine":true})";
    return DecodeStatus::Broken;
}

bool read_stage_answer(std::string_view line, const Record& in, std::vector<Record>& out, std::string& error) {
    std::string why;
    const auto v = parse_json(line, &why);
    if (!v) {
        error = fmt::format("the answer is not JSON: {}", why);
        return false;
    }
    if (const auto* arr = v->array()) {
        return records_from_array(*arr, in, out, error);
    }
    if (const auto* e = v->object() != nullptr ? error_member(*v) : nullptr) {
        error = e->substr(0, kMaxReason);
        return false;
    }
    out.push_back(in);
    if (!record_from_json(*v, out.back(), why)) {
        out.pop_back();
        error = fmt::format("the answer: {}", why);
        return false;
    }
    return true;
}

}  // namespace sluice::decoders
