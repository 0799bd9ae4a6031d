#pragma once
// How nested data becomes records, for every decoder of a format with
// objects and arrays (json, cbor, msgpack): the one home of these rules.
//
// - A document that is an object (a map) is one record; a top-level array of
//   objects is one record each; any other top-level array element is an error.
// - Nested keys and array indices join into one field name with the
//   separator: {"a":{"b":[1,2]}} gives a.b.0 and a.b.1.
// - null takes its array index but stores nothing.
// - When a record's object ends, its time field becomes the record's time
//   (decoders/timestamp.hpp, take_time_field); a value that is a time by its
//   type (a CBOR time tag, a MessagePack timestamp) at the record's own
//   level is the record's time too, and deeper down an RFC 3339 string.
// - Binary values (CBOR byte strings, MessagePack bin and extensions) are
//   base64url text without padding, as RFC 8949 converts them to JSON.
// - NaN and the infinities give no field, like null: JSON and most sinks
//   cannot carry them.
// - Bounded: nesting (kMaxDepth levels), a field name's length
//   (kMaxNameBytes) and the bytes of all field names of a frame together
//   (kNameBudgetFactor times the frame's size, plus kNameBudgetSlack), so a
//   small frame of deep or long names cannot cost much more memory than it
//   holds.
//
// A decoder parses and calls the events below in document order; each
// returns false with error() set when the document cannot be a record.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/record.hpp"

namespace sluice::decoders {

// The `separator` option of every decoder that builds records through a
// RecordTree.
inline OptionSpec separator_option_spec() {
    return OptionSpec{.name = "separator",
                      .type = OptionType::String,
                      .default_value = ".",
                      .doc = "Joins nested object keys and array indices into one field name: "
                             "{\"a\":{\"b\":[1,2]}} gives fields a.b.0 and a.b.1.",
                      .min = 0,
                      .max = 8};
}

class RecordTree {
public:
    static constexpr std::size_t kMaxDepth = 64;
    static constexpr std::size_t kMaxNameBytes = 1024;
    static constexpr std::size_t kNameBudgetFactor = 16;
    static constexpr std::size_t kNameBudgetSlack = 64 * 1024;

    // `format` prefixes every error ("json: nested deeper than 64 levels").
    RecordTree(std::string separator, std::string_view format);

    // Starts a frame: records go to `out`, each with `origin`; `frame_bytes`
    // sizes the budget of field name bytes.
    void start_frame(std::size_t frame_bytes);
    // Starts a document of the frame.
    void reset(std::vector<Record>& out, const std::string& origin);
    const std::string& error() const { return error_; }
    // True between the document's first event and its end.
    bool open() const { return !levels_.empty() || top_array_; }

    bool null();
    bool boolean(bool b) { return scalar(b); }
    bool integer(std::int64_t i) { return scalar(i); }
    bool real(double d) { return std::isfinite(d) ? scalar(d) : null(); }
    // `s` must be valid UTF-8 (checked by the caller's format rules).
    bool string(std::string_view s) {
        Field* f = next_field();
        if (f != nullptr) {
            f->value.emplace<std::string>(s);
        }
        return f != nullptr;
    }
    bool time(TimeNs t);
    // Binary data: base64url text without padding (RFC 8949 section 6.1).
    bool bytes(std::string_view b);

    bool start_object();
    // The key of the next member of the current object.
    bool key(std::string_view k) {
        const Level& l = levels_.back();
        path_.resize(l.prefix_len);
        if (!l.root) {
            path_ += sep_;
        }
        path_.append(k);
        return path_.size() <= kMaxNameBytes || name_too_long();
    }
    bool end_object();
    bool start_array();
    bool end_array();

    // An error of the caller's own, prefixed like the others.
    bool fail(std::string_view why);

private:
    struct Level {
        std::size_t prefix_len;  // path_ length of this container's own name
        std::size_t index;       // next element index (arrays)
        bool array;
        bool root;  // the record's own object: its keys get no prefix
    };
    enum class Place { Invalid, RecordRoot, Member };

    Record& record() { return out_->back(); }

    // Where the next value goes and, inside arrays, its name.
    Place begin_value() {
        if (levels_.empty()) {
            // The document itself or an element of a top-level array.
            if (top_array_) {
                top_current_ = top_index_++;
            }
            return Place::RecordRoot;
        }
        Level& l = levels_.back();
        if (l.array) {
            path_.resize(l.prefix_len);
            path_ += sep_;
            char buf[24];
            const auto r = std::to_chars(buf, buf + sizeof buf, l.index);
            path_.append(buf, r.ptr);
            ++l.index;
        }
        return Place::Member;
    }
    bool push_level(bool array);
    bool not_an_object();

    // The field the next value goes into, named; null (and error() set)
    // when the value cannot be one.
    Field* next_field() {
        const Place p = begin_value();
        if (p == Place::Invalid) {
            return nullptr;
        }
        if (p == Place::RecordRoot) {
            not_an_object();
            return nullptr;
        }
        if (!name_fits()) {
            return nullptr;
        }
        Field& f = record().fields.emplace_back();
        f.name = path_;
        return &f;
    }

    template <class T>
    bool scalar(T v) {
        Field* f = next_field();
        if (f != nullptr) {
            f->value.template emplace<T>(v);
        }
        return f != nullptr;
    }

    // Counts the field's name against the frame's budget.
    bool name_fits() {
        if (path_.size() > kMaxNameBytes) {
            return name_too_long();
        }
        name_bytes_ += path_.size();
        return name_bytes_ <= name_budget_ || over_budget();
    }
    bool over_budget();
    bool name_too_long();

    std::string sep_;
    std::string format_;
    std::vector<Record>* out_ = nullptr;
    const std::string* origin_ = nullptr;
    std::vector<Level> levels_;
    std::string path_;
    std::string encoded_;  // bytes(), reused
    std::string error_;
    bool top_array_ = false;
    std::size_t top_index_ = 0;
    std::size_t top_current_ = 0;
    std::size_t field_hint_ = 4;
    bool typed_time_ = false;  // the current record's time came from a typed value
    std::size_t name_bytes_ = 0;
    std::size_t name_budget_ = kNameBudgetSlack;
};

// A frame of one or more documents back to back (a CBOR sequence, a
// MessagePack stream), each a map or an array of maps. `start(at, end)`
// says where a document begins at `at` (null: no record starts there);
// `parser.document(begin, at, end, next)` reads one into the tree and says
// where it ended, `parser.error()` why it could not. NotMine when the frame
// does not start a document; the first error undoes the frame's records
// (Broken).
template <class Start, class Parser>
DecodeStatus decode_documents(RecordTree& tree, std::string_view format, const Frame& frame,
                              std::vector<Record>& out, std::string& error, Start start, Parser& parser) {
    const auto* begin = reinterpret_cast<const std::uint8_t*>(frame.payload.data());
    const auto* end = begin + frame.payload.size();
    const std::uint8_t* at = start(begin, end);
    if (at == nullptr) {
        return DecodeStatus::NotMine;
    }
    const std::size_t first = out.size();
    tree.start_frame(frame.payload.size());
    for (;;) {
        tree.reset(out, frame.origin);
        const std::uint8_t* next = nullptr;
        if (!parser.document(begin, at, end, next)) {
            error = parser.error();
            break;
        }
        if (next == end) {
            return DecodeStatus::Ok;
        }
        if ((at = start(next, end)) == nullptr) {
            error = fmt::format("{}: a value that is not a map or an array after the document (offset {})", format,
                                next - begin);
            break;
        }
    }
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
    return DecodeStatus::Broken;
}

}  // namespace sluice::decoders
