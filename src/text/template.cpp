#include "text/template.hpp"

#include <fmt/format.h>

#include "text/field_text.hpp"
#include "text/text.hpp"

namespace sluice {

std::optional<Template> Template::parse(std::string_view text, std::string* error) {
    std::string local;
    std::string& err = error != nullptr ? *error : local;
    if (text.size() > kMaxText) {
        err = fmt::format("template longer than {} characters", kMaxText);
        return std::nullopt;
    }
    Template t;
    t.text_ = std::string(text);
    std::string lit;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
            lit += c;
            ++i;
            continue;
        }
        if (c == '}') {
            err = fmt::format("column {}: unmatched '}}' (write '}}}}' for a literal brace)", utf8_column(text, i));
            return std::nullopt;
        }
        if (c != '{') {
            lit += c;
            continue;
        }
        const auto end = text.find('}', i + 1);
        if (end == std::string_view::npos) {
            err = fmt::format("column {}: '{{' without its '}}'", utf8_column(text, i));
            return std::nullopt;
        }
        const auto name = text.substr(i + 1, end - i - 1);
        if (name.empty() || name.find('{') != std::string_view::npos) {
            err = fmt::format("column {}: expected a tag or field name inside '{{...}}'", utf8_column(text, i));
            return std::nullopt;
        }
        if (!lit.empty()) {
            t.parts_.push_back({false, std::move(lit)});
            lit.clear();
        }
        t.parts_.push_back({true, std::string(name)});
        i = end;
    }
    if (!lit.empty()) {
        t.parts_.push_back({false, std::move(lit)});
    }
    return t;
}

namespace {

// Appends the value of `name` in `r`; false when the record lacks it.
bool append_name(const Record& r, const std::string& name, std::string& out) {
    if (const std::string* tag = r.tag(name)) {
        out += *tag;
        return !tag->empty();
    }
    if (const Field* f = r.field(name)) {
        const std::size_t before = out.size();
        append_field_text(out, f->value);
        return out.size() > before;
    }
    if (name == "measurement") {
        out += r.measurement;
        return !r.measurement.empty();
    }
    if (name == "origin") {
        out += r.origin;
        return !r.origin.empty();
    }
    return false;
}

}  // namespace

bool Template::render(const Record& r, std::string& out) const {
    return render(r, out, nullptr);
}

bool Template::render(const Record& r, std::string& out, Escape escape) const {
    out.clear();
    bool complete = true;
    std::string value;
    for (const auto& p : parts_) {
        if (!p.name) {
            out += p.text;
        } else if (escape == nullptr) {
            complete = append_name(r, p.text, out) && complete;
        } else {
            value.clear();
            complete = append_name(r, p.text, value) && complete;
            out += escape(value);
        }
    }
    return complete;
}

std::string_view Template::missing_name(const Record& r) const {
    std::string scratch;
    for (const auto& p : parts_) {
        if (p.name && !append_name(r, p.text, scratch)) {
            return p.text;
        }
    }
    return {};
}

bool Template::constant() const {
    for (const auto& p : parts_) {
        if (p.name) {
            return false;
        }
    }
    return true;
}

}  // namespace sluice
