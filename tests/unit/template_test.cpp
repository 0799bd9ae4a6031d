// The one "{name}" template dialect (text/template.hpp): stage keys, Kafka
// topics and keys, CrateDB names.
#include <gtest/gtest.h>

#include "core/url.hpp"
#include "text/field_text.hpp"
#include "text/template.hpp"

namespace sluice {
namespace {

Record reading() {
    Record r;
    r.time_ns = 1'700'000'000'000'000'000;
    r.measurement = "climate";
    r.origin = "sensors/n1";
    r.tags = {{"node", "n1"}, {"room", "lab 2"}, {"empty", ""}};
    r.fields = {{"temperature", 21.5}, {"humidity", std::int64_t{60}}, {"ok", true}, {"status", std::string("fine")}};
    return r;
}

Template parse(std::string_view text) {
    std::string error;
    auto t = Template::parse(text, &error);
    EXPECT_TRUE(t) << text << ": " << error;
    return t ? *t : *Template::parse("", nullptr);
}

std::string render(std::string_view text, const Record& r = reading()) {
    std::string out;
    EXPECT_TRUE(parse(text).render(r, out)) << text;
    return out;
}

TEST(Template, TagsFieldsMeasurementOriginAndLiterals) {
    EXPECT_EQ(render("readings"), "readings");
    EXPECT_EQ(render("{node}/{humidity}/{measurement}{{x}}"), "n1/60/climate{x}");
    EXPECT_EQ(render("{temperature}-{ok}-{status}"), "21.5-true-fine");
    EXPECT_EQ(render("plant.{room}"), "plant.lab 2");
    EXPECT_EQ(render("{origin}"), "sensors/n1");
    EXPECT_EQ(render(""), "");
    EXPECT_TRUE(parse("readings").constant());
    EXPECT_FALSE(parse("{x}").constant());
}

TEST(Template, TagsComeBeforeFieldsAndTheRecordsOwnNames) {
    Record r = reading();
    r.tags.push_back({"measurement", "from-tag"});
    r.fields.push_back({"node", std::string("from-field")});
    EXPECT_EQ(render("{measurement}/{node}", r), "from-tag/n1");
}

TEST(Template, AMissingOrEmptyNameFailsTheRender) {
    std::string out;
    const Template t = parse("x{node}/{sensor}y");
    EXPECT_FALSE(t.render(reading(), out));
    EXPECT_EQ(out, "xn1/y") << "the text with the missing name left empty";
    EXPECT_EQ(t.missing_name(reading()), "sensor");
    EXPECT_FALSE(parse("{empty}").render(reading(), out));
    EXPECT_EQ(parse("{empty}").missing_name(reading()), "empty");
    Record bare;
    EXPECT_FALSE(parse("{measurement}").render(bare, out));
    EXPECT_FALSE(parse("{origin}").render(bare, out));
    EXPECT_TRUE(parse("{node}").missing_name(reading()).empty());
}

TEST(Template, EscapedRenderEscapesTheValuesOnly) {
    std::string out;
    ASSERT_TRUE(parse("/in/{room}/{origin}?t={status}").render(reading(), out, percent_encode));
    EXPECT_EQ(out, "/in/lab%202/sensors%2Fn1?t=fine");
    EXPECT_FALSE(parse("/in/{missing}/x").render(reading(), out, percent_encode));
    EXPECT_EQ(out, "/in//x");
}

TEST(Template, ErrorsNameTheColumn) {
    std::string error;
    EXPECT_FALSE(Template::parse("{node", &error));
    EXPECT_EQ(error, "column 1: '{' without its '}'");
    EXPECT_FALSE(Template::parse("a}", &error));
    EXPECT_EQ(error, "column 2: unmatched '}' (write '}}' for a literal brace)");
    EXPECT_FALSE(Template::parse("x{}", &error));
    EXPECT_EQ(error, "column 2: expected a tag or field name inside '{...}'");
    EXPECT_FALSE(Template::parse("é{a{b}", &error));
    EXPECT_EQ(error, "column 2: expected a tag or field name inside '{...}'");
    EXPECT_FALSE(Template::parse(std::string(Template::kMaxText + 1, 'a'), &error));
}

TEST(FieldText, ShortestExactForms) {
    EXPECT_EQ(field_text(FieldValue(21.5)), "21.5");
    EXPECT_EQ(field_text(FieldValue(3.0)), "3");
    EXPECT_EQ(field_text(FieldValue(std::int64_t{-7})), "-7");
    EXPECT_EQ(field_text(FieldValue(true)), "true");
    EXPECT_EQ(field_text(FieldValue(std::string("x y"))), "x y");
}

}  // namespace
}  // namespace sluice
