#include "decoders/record_tree.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/record_json.hpp"
#include "decoders/timestamp.hpp"
#include "text/base64.hpp"

namespace sluice::decoders {

RecordTree::RecordTree(std::string separator, std::string_view format)
    : sep_(std::move(separator)), format_(format) {}

void RecordTree::start_frame(std::size_t frame_bytes) {
    name_bytes_ = 0;
    name_budget_ = frame_bytes * kNameBudgetFactor + kNameBudgetSlack;
    // One huge frame must not pin its buffers for the life of the source.
    if (path_.capacity() > kNameBudgetSlack) {
        path_ = std::string();
    }
    if (encoded_.capacity() > kNameBudgetSlack) {
        encoded_ = std::string();
    }
}

bool RecordTree::over_budget() {
    return fail(fmt::format("the field names would take more than {} bytes ({} times the frame's size and {} more)",
                            name_budget_, kNameBudgetFactor, kNameBudgetSlack));
}

bool RecordTree::name_too_long() {
    return fail(fmt::format("a field name longer than {} bytes", kMaxNameBytes));
}

void RecordTree::reset(std::vector<Record>& out, const std::string& origin) {
    out_ = &out;
    origin_ = &origin;
    levels_.clear();
    path_.clear();
    error_.clear();
    top_array_ = false;
    top_index_ = 0;
    top_current_ = 0;
}

bool RecordTree::fail(std::string_view why) {
    error_ = fmt::format("{}: {}", format_, why);
    return false;
}

bool RecordTree::not_an_object() {
    return fail(fmt::format("element {} of the top-level array is not an object", top_current_));
}

bool RecordTree::null() {
    // null means "no value": nothing to store, but it still takes an array
    // index and is not a record.
    const Place p = begin_value();
    if (p == Place::RecordRoot) {
        return not_an_object();
    }
    return p != Place::Invalid;
}

bool RecordTree::time(TimeNs t) {
    if (!levels_.empty() && levels_.back().root && !typed_time_) {
        begin_value();
        record().time_ns = t;  // the record's own time; its time field stays a field
        typed_time_ = true;
        return true;
    }
    Field* f = next_field();
    if (f != nullptr) {
        std::string text;
        append_rfc3339(text, t);
        f->value.emplace<std::string>(std::move(text));
    }
    return f != nullptr;
}

bool RecordTree::bytes(std::string_view b) {
    encoded_.clear();
    append_base64(encoded_, b, Base64::Url, false);
    return string(encoded_);
}

bool RecordTree::start_object() {
    const Place p = begin_value();
    if (p == Place::Invalid) {
        return false;
    }
    if (p == Place::RecordRoot) {
        Record& r = out_->emplace_back();
        r.origin = *origin_;
        r.fields.reserve(field_hint_);
        typed_time_ = false;
        levels_.push_back({0, 0, false, true});
        return true;
    }
    return push_level(false);
}

bool RecordTree::end_object() {
    const bool root = levels_.back().root;
    levels_.pop_back();
    if (root) {
        Record& r = record();
        field_hint_ = std::clamp<std::size_t>(r.fields.size(), 4, 256);
        if (!typed_time_) {
            if (auto err = take_time_field(r)) {
                return fail(*err);
            }
        }
    }
    return true;
}

bool RecordTree::start_array() {
    if (levels_.empty() && !top_array_) {
        top_array_ = true;
        return true;
    }
    const Place p = begin_value();
    if (p == Place::Invalid) {
        return false;
    }
    if (p == Place::RecordRoot) {
        return not_an_object();
    }
    return push_level(true);
}

bool RecordTree::end_array() {
    if (levels_.empty()) {
        top_array_ = false;
        return true;
    }
    levels_.pop_back();
    return true;
}

bool RecordTree::push_level(bool array) {
    if (levels_.size() >= kMaxDepth) {
        return fail(fmt::format("nested deeper than {} levels", kMaxDepth));
    }
    levels_.push_back({path_.size(), 0, array, false});
    return true;
}

}  // namespace sluice::decoders
