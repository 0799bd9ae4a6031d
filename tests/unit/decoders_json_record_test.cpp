// Records read back from their NDJSON form, and the answers of exec
// decoders and stages (decoders/json_record.hpp).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/record_json.hpp"
#include "decoders/json_record.hpp"

namespace sluice::decoders {
namespace {

Record parsed(std::string_view text, std::string* error = nullptr) {
    std::string why;
    const auto v = parse_json(text, &why);
    EXPECT_TRUE(v.has_value()) << why;
    Record r;
    const bool ok = v && record_from_json(*v, r, why);
    if (error != nullptr) {
        *error = ok ? std::string() : why;
    } else {
        EXPECT_TRUE(ok) << why;
    }
    return r;
}

TEST(JsonRecord, RoundTripKeepsTypes) {
    Record in;
    in.time_ns = 1'700'000'000'123'456'789;
    in.measurement = "climate";
    in.origin = "plant/line1";
    in.tags = {{"device", "0a01"}, {"site", "north"}};
    in.fields = {{"t", 21.0}, {"n", std::int64_t{-3}}, {"ok", true}, {"s", std::string("a \"b\"\n")}, {"d", 0.1}};
    std::string text;
    append_record_json(text, in, JsonDouble::KeepFraction);
    const Record out = parsed(text);
    EXPECT_EQ(out.time_ns, in.time_ns);
    EXPECT_EQ(out.measurement, in.measurement);
    EXPECT_EQ(out.origin, in.origin);
    ASSERT_EQ(out.tags.size(), 2U);
    EXPECT_EQ(out.tags[1].value, "north");
    ASSERT_EQ(out.fields.size(), in.fields.size());
    for (std::size_t i = 0; i < in.fields.size(); ++i) {
        EXPECT_EQ(out.fields[i].name, in.fields[i].name);
        EXPECT_EQ(out.fields[i].value, in.fields[i].value) << in.fields[i].name;
    }
}

TEST(JsonRecord, TimesTagsAndNulls) {
    EXPECT_EQ(parsed(R"({"time":1700000000})").time_ns, 1'700'000'000'000'000'000);
    EXPECT_EQ(parsed(R"({"time":1700000000123})").time_ns, 1'700'000'000'123'000'000);
    EXPECT_EQ(parsed(R"({"time":"2023-11-14T22:13:20.5+00:00"})").time_ns, 1'700'000'000'500'000'000);
    const Record r = parsed(R"({"tags":{"n":3,"b":false,"x":1.5},"fields":{"gone":null,"v":1}})");
    ASSERT_EQ(r.tags.size(), 3U);
    EXPECT_EQ(r.tags[0].value, "3");
    EXPECT_EQ(r.tags[1].value, "false");
    EXPECT_EQ(r.tags[2].value, "1.5");
    ASSERT_EQ(r.fields.size(), 1U);
    EXPECT_EQ(r.fields[0].value, FieldValue(std::int64_t{1}));
}

TEST(JsonRecord, RefusesWhatIsNotARecord) {
    std::string error;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"time":"soon"})", "'time' is not"},
        {R"({"measurement":3})", "'measurement' must be a string"},
        {R"({"tags":[1]})", "'tags' must be an object"},
        {R"({"tags":{"a":{}}})", "tag 'a' must be"},
        {R"({"fields":{"a":[1]}})", "field 'a' must be"},
        {R"({"feilds":{}})", "unknown member 'feilds'"},
        {R"([1])", "must be a JSON object"},
    };
    for (const auto& [text, want] : cases) {
        (void)parsed(text, &error);
        EXPECT_NE(error.find(want), std::string::npos) << text << " gave: " << error;
    }
}

TEST(JsonRecord, DecoderAnswers) {
    Record base;
    base.origin = "o";
    std::vector<Record> out(1);  // appended to, never replaced
    std::string error;
    EXPECT_EQ(read_decoder_answer(R"({"records":[{"fields":{"a":1}},{"origin":"p","fields":{"b":2}}]})", base, out,
                                  error),
              DecodeStatus::Ok);
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[1].origin, "o");
    EXPECT_EQ(out[2].origin, "p");
    EXPECT_EQ(read_decoder_answer(R"({"records":[]})", base, out, error), DecodeStatus::Ok);
    EXPECT_EQ(read_decoder_answer(R"({"not_mine":true})", base, out, error), DecodeStatus::NotMine);
    EXPECT_EQ(read_decoder_answer(R"({"error":"checksum"})", base, out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "checksum");
    EXPECT_EQ(read_decoder_answer(R"({"records":[{"fields":{}},{"x":1}]})", base, out, error), DecodeStatus::Broken);
    EXPECT_EQ(error, "record 1 of the answer: unknown member 'x' (a record has time, measurement, origin, tags and "
                     "fields)");
    EXPECT_EQ(read_decoder_answer(R"({"fields":{}})", base, out, error), DecodeStatus::Broken);
    EXPECT_EQ(read_decoder_answer("not json", base, out, error), DecodeStatus::Broken);
    EXPECT_NE(error.find("the answer is not JSON"), std::string::npos);
    EXPECT_EQ(out.size(), 3U);
}

TEST(JsonRecord, StageAnswers) {
    Record in;
    in.time_ns = 5;
    in.measurement = "m";
    in.tags = {{"k", "v"}};
    in.fields = {{"a", std::int64_t{1}}};
    std::vector<Record> out;
    std::string error;
    ASSERT_TRUE(read_stage_answer(R"({"fields":{"a":2}})", in, out, error)) << error;
    ASSERT_EQ(out.size(), 1U);
    EXPECT_EQ(out[0].time_ns, 5);  // left out: as the input had it
    EXPECT_EQ(out[0].tags.size(), 1U);
    EXPECT_EQ(out[0].fields[0].value, FieldValue(std::int64_t{2}));
    ASSERT_TRUE(read_stage_answer("[]", in, out, error));
    ASSERT_TRUE(read_stage_answer(R"([{"measurement":"x"},{"measurement":"y"}])", in, out, error));
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[2].measurement, "y");
    EXPECT_FALSE(read_stage_answer(R"({"error":"no"})", in, out, error));
    EXPECT_EQ(error, "no");
    EXPECT_FALSE(read_stage_answer(R"([{"fields":{}},7])", in, out, error));
    EXPECT_FALSE(read_stage_answer("7", in, out, error));
    EXPECT_EQ(out.size(), 3U);
}

}  // namespace
}  // namespace sluice::decoders
