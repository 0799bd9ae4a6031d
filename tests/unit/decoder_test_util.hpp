#pragma once
// What the decoders' tests share: a frame of given bytes from "dev/1", and
// a field's value of an expected type (a test failure when it is missing or
// of another type).

#include <string>
#include <string_view>
#include <variant>

#include <gtest/gtest.h>

#include "core/record.hpp"

namespace sluice::decoders::test {

inline Frame text(std::string payload) {
    Frame f;
    f.payload = std::move(payload);
    f.origin = "dev/1";
    return f;
}

template <class T>
T value(const Record& r, std::string_view name) {
    const Field* f = r.field(name);
    EXPECT_NE(f, nullptr) << name;
    if (f == nullptr || !std::holds_alternative<T>(f->value)) {
        ADD_FAILURE() << name << " missing or of another type";
        return T{};
    }
    return std::get<T>(f->value);
}

}  // namespace sluice::decoders::test
