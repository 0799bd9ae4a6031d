// The one JSON reader (text/json.hpp): the number rule and the small tree.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "text/json.hpp"

namespace sluice {
namespace {

TEST(JsonNumber, IntegersStayIntegersAndTheRestIsCorrectlyRounded) {
    std::string error;
    EXPECT_EQ(json_number("42", &error), FieldValue(std::int64_t{42}));
    EXPECT_EQ(json_number("-9223372036854775808", &error), FieldValue(std::numeric_limits<std::int64_t>::min()));
    EXPECT_EQ(json_number("9223372036854775808", &error), FieldValue(9223372036854775808.0));
    EXPECT_EQ(json_number("21.5", &error), FieldValue(21.5));
    EXPECT_EQ(json_number("0.1", &error), FieldValue(0.1));
    EXPECT_EQ(json_number("1e2", &error), FieldValue(100.0));
    EXPECT_EQ(json_number("1e-400", &error), FieldValue(0.0)) << "below the smallest double: zero";
    EXPECT_FALSE(json_number("1844674407379510921888888881e308", &error));
    EXPECT_NE(error.find("beyond a double's range"), std::string::npos) << error;
    EXPECT_FALSE(json_number("12abc", &error));
}

TEST(JsonTree, ReadsCrateDbAnswers) {
    std::string error;
    auto v = parse_json(R"({"results":[{"rowcount":1},{"rowcount":-2,"error_message":"bad"}],"x":null})", &error);
    ASSERT_TRUE(v) << error;
    const auto* results = v->get("results");
    ASSERT_TRUE(results != nullptr && results->array() != nullptr);
    ASSERT_EQ(results->array()->size(), 2u);
    EXPECT_EQ((*results->array())[0].get("rowcount")->number(), 1.0);
    EXPECT_EQ((*results->array())[1].get("rowcount")->number(), -2.0);
    EXPECT_EQ(*(*results->array())[1].get("error_message")->string(), "bad");
    EXPECT_TRUE(v->get("x") != nullptr);
    EXPECT_TRUE(v->get("missing") == nullptr);
    auto e = parse_json(R"({"error":{"message":"m\u00e9","code":4000}})", &error);
    ASSERT_TRUE(e) << error;
    EXPECT_EQ(*e->get("error")->get("message")->string(), "m\xC3\xA9");
    EXPECT_EQ(e->get("error")->get("code")->number(), 4000.0);
}

TEST(JsonTree, RejectsWithTheOffset) {
    std::string error;
    EXPECT_FALSE(parse_json(R"({"a":1} trailing)", &error));
    EXPECT_NE(error.find("offset 8"), std::string::npos) << error;
    EXPECT_FALSE(parse_json("", &error));
    EXPECT_FALSE(parse_json("{\"a\":\"\xff\"}", &error)) << "invalid UTF-8";
    EXPECT_FALSE(parse_json("[1e999]", &error));  // RapidJSON's own check: "Number too big"
    EXPECT_FALSE(parse_json("[1844674407379510921888888881e308]", &error));  // json_number's
    EXPECT_NE(error.find("beyond a double's range"), std::string::npos) << error;
}

TEST(JsonTree, NestingIsBounded) {
    std::string error;
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    EXPECT_FALSE(parse_json(deep, &error));
    EXPECT_NE(error.find("nested deeper than 64"), std::string::npos) << error;
    const std::string ok = std::string(64, '[') + std::string(64, ']');
    EXPECT_TRUE(parse_json(ok, &error)) << error;
}

}  // namespace
}  // namespace sluice
