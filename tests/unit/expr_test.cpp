// The expression language (expr/expr.hpp): parsing, errors with columns,
// evaluation over records, key templates and unit conversion.
#include <gtest/gtest.h>

#include <cmath>

#include "expr/expr.hpp"

using namespace sluice;
using namespace sluice::expr;

namespace {

Record reading() {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000;
    r.measurement = "climate";
    r.origin = "sensors/n1";
    r.tags = {{"node", "n1"}, {"room", "lab-2"}, {"level", "3"}};
    r.fields = {{"temperature", 21.5}, {"humidity", std::int64_t{60}}, {"ok", true}, {"status", std::string("fine")}};
    return r;
}

Expression parse(std::string_view text) {
    std::string error;
    auto e = Expression::parse(text, &error);
    EXPECT_TRUE(e.has_value()) << text << ": " << error;
    return e ? *e : *Expression::parse("false", nullptr);
}

std::string error_of(std::string_view text) {
    std::string error;
    auto e = Expression::parse(text, &error);
    EXPECT_FALSE(e.has_value()) << text;
    return error;
}

bool holds(std::string_view text) { return parse(text).test(reading()); }

double number(std::string_view text) {
    const Value v = parse(text).eval(reading());
    EXPECT_EQ(v.type, Value::Type::Number) << text;
    return v.num;
}

}  // namespace

TEST(Expr, Comparisons) {
    EXPECT_TRUE(holds("measurement == 'climate'"));
    EXPECT_TRUE(holds("temperature > 20 and humidity <= 60"));
    EXPECT_FALSE(holds("temperature >= 21.6"));
    EXPECT_TRUE(holds("node != \"n2\""));
    EXPECT_TRUE(holds("level == 3"));      // a tag that reads as a number
    EXPECT_TRUE(holds("level < 10"));
    EXPECT_FALSE(holds("room == 3"));      // text that is no number: only != holds
    EXPECT_TRUE(holds("room != 3"));
    EXPECT_TRUE(holds("ok == true"));
    EXPECT_TRUE(holds("ok"));
    EXPECT_TRUE(holds("status == 'fine' && !(humidity > 90) || false"));
    EXPECT_TRUE(holds("'abc' < 'abd'"));
}

TEST(Expr, MissingValuesAreFalse) {
    EXPECT_FALSE(holds("pressure > 0"));
    EXPECT_FALSE(holds("pressure != 0"));
    EXPECT_FALSE(holds("pressure == pressure"));
    EXPECT_TRUE(holds("not exists(pressure)"));
    EXPECT_TRUE(holds("exists(node) and exists('temperature')"));
    EXPECT_TRUE(parse("pressure + 1").eval(reading()).missing());
}

TEST(Expr, Arithmetic) {
    EXPECT_DOUBLE_EQ(number("temperature - (100 - humidity) / 5"), 13.5);
    EXPECT_DOUBLE_EQ(number("-temperature * 2"), -43);
    EXPECT_DOUBLE_EQ(number("7 % 3 + 2 * 3 - 1"), 6);
    EXPECT_DOUBLE_EQ(number("1e3 + .5"), 1000.5);
    EXPECT_DOUBLE_EQ(number("round(temperature / 3, 2)"), 7.17);
    EXPECT_DOUBLE_EQ(number("max(1, humidity, 3) + min(2, -1) + abs(-2)"), 61);
    EXPECT_DOUBLE_EQ(number("sqrt(16) + pow(2, 10) + floor(1.7) + ceil(1.2)"), 4 + 1024 + 1 + 2);
    EXPECT_NEAR(number("ln(exp(2)) + log10(1000)"), 5, 1e-12);
    EXPECT_DOUBLE_EQ(number("time"), 1.7e9);
    EXPECT_TRUE(parse("1 / 0").eval(reading()).missing());
    EXPECT_TRUE(parse("sqrt(-1)").eval(reading()).missing());
    const Value s = parse("node + '-' + room").eval(reading());
    EXPECT_EQ(s.type, Value::Type::String);
    EXPECT_EQ(s.str, "n1-lab-2");
}

TEST(Expr, FieldAndTagPickOneKind) {
    Record r = reading();
    r.tags.push_back({"temperature", "tag"});
    EXPECT_TRUE(parse("temperature == 21.5").test(r));  // fields first
    EXPECT_TRUE(parse("tag('temperature') == 'tag'").test(r));
    EXPECT_TRUE(parse("field(temperature) == 21.5").test(r));
    EXPECT_TRUE(parse("`temperature` == 21.5").test(r));
    EXPECT_FALSE(parse("field('node') == 'n1'").test(r));
}

TEST(Expr, Regex) {
    EXPECT_TRUE(holds("room =~ '^lab-[0-9]+$'"));
    EXPECT_FALSE(holds("room !~ 'lab'"));
    EXPECT_TRUE(holds("origin =~ 'sensors/n[0-9]' and origin =~ '\\.*'"));
    EXPECT_FALSE(holds("pressure =~ '.*'"));
    EXPECT_NE(error_of("room =~ node").find("string literal"), std::string::npos);
    EXPECT_NE(error_of("room =~ '('").find("invalid regular expression"), std::string::npos);
}

// Patterns that make a backtracking or closure-duplicating engine take
// exponential time are refused or matched in time linear in the value.
TEST(Expr, RegexWorkIsBounded) {
    // A quantifier on a quantifier: found by fuzzing, it stalled glibc's regcomp.
    EXPECT_NE(error_of("node =~ '^9++++*+++++++++++++++,]+$' or !ok").find("invalid regular expression"),
              std::string::npos);
    Record r = reading();
    r.fields.push_back({"long", std::string(30'000, 'a') + "b"});
    EXPECT_FALSE(parse("long =~ '^(a|aa)+$'").test(r));
    EXPECT_TRUE(parse("long =~ '(a|aa)+b$'").test(r));
    EXPECT_TRUE(parse("long =~ 'a{3}b'").test(r));
}

TEST(Expr, ConvertUnits) {
    EXPECT_NEAR(number("convert(temperature, 'C', 'F')"), 70.7, 1e-9);
    EXPECT_NEAR(*convert_unit(0, "C", "K"), 273.15, 1e-9);
    EXPECT_NEAR(*convert_unit(212, "F", "C"), 100, 1e-9);
    EXPECT_NEAR(*convert_unit(101325, "Pa", "hPa"), 1013.25, 1e-9);
    EXPECT_NEAR(*convert_unit(1, "bar", "psi"), 14.503773773, 1e-6);
    EXPECT_NEAR(*convert_unit(36, "km/h", "m/s"), 10, 1e-9);
    EXPECT_NEAR(*convert_unit(50, "%", "ratio"), 0.5, 1e-12);
    EXPECT_FALSE(convert_unit(1, "C", "Pa"));
    EXPECT_FALSE(convert_unit(1, "furlong", "m"));
    EXPECT_NE(check_units("C", "hPa").find("different quantities"), std::string::npos);
    EXPECT_NE(error_of("convert(temperature, 'C', 'parsec')").find("unknown unit 'parsec'"), std::string::npos);
}

TEST(Expr, ErrorsNameTheColumn) {
    EXPECT_EQ(error_of("temperature > "), "column 15: expected a value but found 'end of expression'");
    EXPECT_EQ(error_of("a = 1"), "column 3: '=' is not an operator here: compare with '=='");
    EXPECT_EQ(error_of("(a > 1"), "column 7: expected ')' but found 'end of expression'");
    EXPECT_EQ(error_of("a > 1 b"), "column 7: unexpected 'b'");
    EXPECT_EQ(error_of("'open"), "column 1: unterminated string");
    EXPECT_EQ(error_of("1 < a < 3"), "column 7: comparisons do not chain: use 'and'");
    EXPECT_NE(error_of("frobnicate(1)").find("unknown function 'frobnicate'"), std::string::npos);
    EXPECT_EQ(error_of("pow(1)"), "column 1: pow() takes 2 arguments");
    EXPECT_EQ(error_of("a $ b"), "column 3: unexpected character '$'");
    EXPECT_EQ(error_of("12abc"), "column 3: unexpected 'a' after the number 12");
    EXPECT_EQ(error_of(""), "column 1: expected a value but found 'end of expression'");
    EXPECT_EQ(error_of("and"), "column 1: expected a value but found 'and'");
}

TEST(Expr, DeepNestingIsAnErrorNotACrash) {
    std::string deep(5000, '(');
    EXPECT_FALSE(Expression::parse(deep, nullptr));
    std::string nots;
    for (int i = 0; i < 1000; ++i) {
        nots += "not ";
    }
    EXPECT_NE(error_of(nots + "true").find("nested deeper"), std::string::npos);
}

