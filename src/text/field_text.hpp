#pragma once
// A field value as text, the one form every part uses when it turns a value
// into text (templates, expressions, keys): strings as they are, numbers in
// their shortest exact form ("21.5", "3"), booleans as true/false.

#include <string>

#include "core/record.hpp"

namespace sluice {

std::string field_text(const FieldValue& v);
void append_field_text(std::string& out, const FieldValue& v);

}  // namespace sluice
