#include <gtest/gtest.h>

#include "decoders/csv/csv.hpp"

namespace sluice::decoders {
namespace {

constexpr TimeNs kS = 1'000'000'000;

struct Result {
    DecodeStatus status;
    std::vector<Record> records;
    std::string error;
};

Result run(Decoder& d, std::string payload, std::string origin = "file:/data/a.csv") {
    Frame f;
    f.payload = std::move(payload);
    f.origin = std::move(origin);
    Result r;
    r.status = d.decode(f, r.records, r.error);
    return r;
}

const FieldValue& value(const Record& r, std::string_view name) {
    const Field* f = r.field(name);
    if (f == nullptr) {
        static const FieldValue missing{std::string("<missing>")};
        ADD_FAILURE() << "no field " << name;
        return missing;
    }
    return f->value;
}

CsvConfig with_columns(std::vector<std::string> cols) {
    CsvConfig c;
    c.columns = std::move(cols);
    return c;
}

TEST(CsvDecoder, HeaderFromFirstLineThenData) {
    auto d = make_csv_decoder({});
    auto h = run(*d, "time,sensor,temp,hum\n");
    ASSERT_EQ(h.status, DecodeStatus::Ok) << h.error;
    EXPECT_TRUE(h.records.empty());
    auto r = run(*d, "1700000000,t1,21.5,40\n");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 1u);
    const Record& rec = r.records[0];
    EXPECT_EQ(rec.origin, "file:/data/a.csv");
    EXPECT_EQ(rec.time_ns, 1700000000 * kS);
    ASSERT_EQ(rec.fields.size(), 3u);
    EXPECT_EQ(value(rec, "sensor"), FieldValue{std::string("t1")});
    EXPECT_EQ(value(rec, "temp"), FieldValue{21.5});
    EXPECT_EQ(value(rec, "hum"), FieldValue{std::int64_t{40}});
}

TEST(CsvDecoder, HeaderAndRowsInOneFrame) {
    auto d = make_csv_decoder({});
    auto r = run(*d, "sensor,temp\r\nt1,21.5\r\n\r\nt2,22\r\n");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(value(r.records[1], "temp"), FieldValue{std::int64_t{22}});
}

TEST(CsvDecoder, HeaderIsPerOrigin) {
    auto d = make_csv_decoder({});
    ASSERT_EQ(run(*d, "a,b", "one").status, DecodeStatus::Ok);
    ASSERT_EQ(run(*d, "x,y,z", "two").status, DecodeStatus::Ok);
    auto r1 = run(*d, "1,2", "one");
    auto r2 = run(*d, "1,2,3", "two");
    ASSERT_EQ(r1.status, DecodeStatus::Ok) << r1.error;
    ASSERT_EQ(r2.status, DecodeStatus::Ok) << r2.error;
    EXPECT_NE(r1.records.at(0).field("b"), nullptr);
    EXPECT_NE(r2.records.at(0).field("z"), nullptr);
    EXPECT_EQ(run(*d, "1,2,3", "one").status, DecodeStatus::Broken);
}

TEST(CsvDecoder, OriginStateIsBounded) {
    CsvConfig c;
    c.max_origins = 2;
    auto d = make_csv_decoder(c);
    ASSERT_EQ(run(*d, "a,b", "o1").status, DecodeStatus::Ok);
    ASSERT_EQ(run(*d, "c,d", "o2").status, DecodeStatus::Ok);
    ASSERT_EQ(run(*d, "1,2", "o1").status, DecodeStatus::Ok);  // o1 now the most recent
    ASSERT_EQ(run(*d, "e,f", "o3").status, DecodeStatus::Ok);  // forgets o2
    auto r1 = run(*d, "1,2", "o1");
    ASSERT_EQ(r1.records.size(), 1u);
    EXPECT_NE(r1.records[0].field("a"), nullptr);
    // o2 was forgotten: its next line is read as a header again.
    EXPECT_EQ(run(*d, "1,2", "o2").status, DecodeStatus::NotMine);
    auto r2 = run(*d, "g,h", "o2");
    EXPECT_EQ(r2.status, DecodeStatus::Ok);
    EXPECT_TRUE(r2.records.empty());
}

TEST(CsvDecoder, ConfiguredColumns) {
    auto d = make_csv_decoder(with_columns({"time", "sensor", "temp", "hum"}));
    auto r = run(*d, "2026-11-22T06:10:00Z,t1,21.5,40\n2026-11-22 06:10:01,t2,,41");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 2u);
    EXPECT_EQ(r.records[0].time_ns, 1795327800 * kS);
    EXPECT_EQ(r.records[1].time_ns, 1795327801 * kS);
    EXPECT_EQ(r.records[1].field("temp"), nullptr);  // empty cell: no field
    EXPECT_EQ(value(r.records[1], "hum"), FieldValue{std::int64_t{41}});
}

TEST(CsvDecoder, HeaderOptionSkipsFirstLinePerOrigin) {
    CsvConfig c = with_columns({"a", "b"});
    c.header = true;
    auto d = make_csv_decoder(c);
    auto r = run(*d, "A,B\n1,2", "x");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    ASSERT_EQ(r.records.size(), 1u);
    EXPECT_EQ(value(r.records[0], "a"), FieldValue{std::int64_t{1}});
    EXPECT_EQ(run(*d, "3,4", "x").records.size(), 1u);
    EXPECT_EQ(run(*d, "header,line", "y").records.size(), 0u);
}

TEST(CsvDecoder, ValueTypes) {
    auto d = make_csv_decoder(with_columns({"i", "d", "b", "s", "e", "neg", "big"}));
    auto r = run(*d, "12, 3.5 ,true,hello world,,-7,99999999999999999999");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(value(rec, "i"), FieldValue{std::int64_t{12}});
    EXPECT_EQ(value(rec, "d"), FieldValue{3.5});
    EXPECT_EQ(value(rec, "b"), FieldValue{true});
    EXPECT_EQ(value(rec, "s"), FieldValue{std::string("hello world")});
    EXPECT_EQ(rec.field("e"), nullptr);
    EXPECT_EQ(value(rec, "neg"), FieldValue{std::int64_t{-7}});
    EXPECT_EQ(value(rec, "big"), FieldValue{1e20});
}

TEST(CsvDecoder, QuotedFields) {
    auto d = make_csv_decoder(with_columns({"a", "b", "c"}));
    auto r = run(*d, R"("x, y","say ""hi""", "  padded  ")");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    const Record& rec = r.records.at(0);
    EXPECT_EQ(value(rec, "a"), FieldValue{std::string("x, y")});
    EXPECT_EQ(value(rec, "b"), FieldValue{std::string("say \"hi\"")});
    EXPECT_EQ(value(rec, "c"), FieldValue{std::string("  padded  ")});

    // A quoted cell may span lines.
    auto m = run(*d, "\"line1\nline2\",2,3\n4,5,6");
    ASSERT_EQ(m.status, DecodeStatus::Ok) << m.error;
    ASSERT_EQ(m.records.size(), 2u);
    EXPECT_EQ(value(m.records[0], "a"), FieldValue{std::string("line1\nline2")});
    // Quoted numbers are typed too.
    EXPECT_EQ(value(run(*d, R"("1","2.5","true")").records.at(0), "b"), FieldValue{2.5});
}

TEST(CsvDecoder, SeparatorAndDecimalComma) {
    CsvConfig c = with_columns({"sensor", "temp"});
    c.separator = ";";
    c.decimal_comma = true;
    auto d = make_csv_decoder(c);
    auto r = run(*d, "t1;21,5\nt2;-0,5\nt3;7");
    ASSERT_EQ(r.status, DecodeStatus::Ok) << r.error;
    EXPECT_EQ(value(r.records.at(0), "temp"), FieldValue{21.5});
    EXPECT_EQ(value(r.records.at(1), "temp"), FieldValue{-0.5});
    EXPECT_EQ(value(r.records.at(2), "temp"), FieldValue{std::int64_t{7}});

    CsvConfig tab = with_columns({"a", "b"});
    tab.separator = "tab";
    auto t = run(*make_csv_decoder(tab), "x y\t 2");
    ASSERT_EQ(t.status, DecodeStatus::Ok) << t.error;
    EXPECT_EQ(value(t.records.at(0), "a"), FieldValue{std::string("x y")});
    EXPECT_EQ(value(t.records.at(0), "b"), FieldValue{std::int64_t{2}});

    CsvConfig multi = with_columns({"a", "b"});
    multi.separator = "||";
    auto m = run(*make_csv_decoder(multi), "1||x|y");
    ASSERT_EQ(m.status, DecodeStatus::Ok) << m.error;
    EXPECT_EQ(value(m.records.at(0), "b"), FieldValue{std::string("x|y")});
}

TEST(CsvDecoder, ConfigErrors) {
    CsvConfig c;
    c.decimal_comma = true;
    EXPECT_THROW(make_csv_decoder(c), ConfigError);
    c.separator = "";
    c.decimal_comma = false;
    EXPECT_THROW(make_csv_decoder(c), ConfigError);
    c.separator = "\"";
    EXPECT_THROW(make_csv_decoder(c), ConfigError);
    EXPECT_THROW(make_csv_decoder(with_columns({"a", ""})), ConfigError);
}

TEST(CsvDecoder, FieldCountMismatch) {
    auto d = make_csv_decoder(with_columns({"time", "sensor", "temp", "hum"}));
    auto r = run(*d, "1700000000,t1,21.5");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "csv: line 1: 3 fields, expected 4 (time,sensor,temp,hum)");
    // No separator at all: some other format.
    EXPECT_EQ(run(*d, "hello").status, DecodeStatus::NotMine);
    EXPECT_EQ(run(*d, "{\"a\": 1, \"b\": 2}").status, DecodeStatus::Broken);  // has a separator
    // A mismatch on a later line names that line and drops the whole frame.
    auto m = run(*d, "1,a,2,3\n1,a,2,3,4");
    EXPECT_EQ(m.status, DecodeStatus::Broken);
    EXPECT_EQ(m.error, "csv: line 2: 5 fields, expected 4 (time,sensor,temp,hum)");
    EXPECT_TRUE(m.records.empty());
    auto f = run(*d, "1,a,2,3\nfree text");
    EXPECT_EQ(f.status, DecodeStatus::Broken);
    EXPECT_EQ(f.error, "csv: line 2: no separator, expected 4 fields");
}

TEST(CsvDecoder, NotMineWithoutColumns) {
    auto d = make_csv_decoder({});
    for (const char* p : {"", "\n\n", "hello world", "42", "level=info msg=x", "m v=1"}) {
        EXPECT_EQ(run(*d, p).status, DecodeStatus::NotMine) << p;
    }
    // A first line with numbers or key=value cells is not a header.
    auto n = run(*d, "1700000000,t1,21.5");
    EXPECT_EQ(n.status, DecodeStatus::NotMine);
    EXPECT_EQ(run(*d, "cpu,host=a v=1").status, DecodeStatus::NotMine);
    // Nothing was learnt from those frames.
    EXPECT_EQ(run(*d, "a,b").records.size(), 0u);
    EXPECT_EQ(run(*d, "1,2").records.size(), 1u);
}

TEST(CsvDecoder, BrokenQuotesAndHeaders) {
    auto d = make_csv_decoder(with_columns({"a", "b"}));
    auto u = run(*d, "1,\"open");
    EXPECT_EQ(u.status, DecodeStatus::Broken);
    EXPECT_EQ(u.error, "csv: line 1: unterminated quoted field starting at column 3");
    EXPECT_EQ(run(*d, "\"only quote").status, DecodeStatus::NotMine);
    auto j = run(*d, "\"a\"x,2");
    EXPECT_EQ(j.status, DecodeStatus::Broken);
    EXPECT_EQ(j.error, "csv: line 1: unexpected 'x' after a quoted field at column 4");

    auto h = make_csv_decoder({});
    auto e = run(*h, "a,,c");
    EXPECT_EQ(e.status, DecodeStatus::Broken);
    EXPECT_EQ(e.error, "csv: line 1: header column 2 is empty");
    // The broken header was not kept.
    EXPECT_EQ(run(*h, "x,y").records.size(), 0u);
}

TEST(CsvDecoder, FailedFrameDoesNotLearnHeader) {
    auto d = make_csv_decoder({});
    auto r = run(*d, "a,b\n1,2,3");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    // "a,b" was not kept: the next line is the header.
    EXPECT_EQ(run(*d, "x,y,z").records.size(), 0u);
    EXPECT_EQ(run(*d, "1,2,3").records.size(), 1u);
}

TEST(CsvDecoder, UnreadableTime) {
    auto d = make_csv_decoder(with_columns({"ts", "v"}));
    auto r = run(*d, "1,1\nlater,2");
    EXPECT_EQ(r.status, DecodeStatus::Broken);
    EXPECT_EQ(r.error, "csv: line 2: field 'ts': cannot read 'later' as a time");
    EXPECT_TRUE(r.records.empty());
}

TEST(CsvDecoder, Descriptor) {
    const Descriptor& desc = components::decoder_csv();
    EXPECT_EQ(desc.name, "csv");
    ASSERT_EQ(desc.options.size(), 4u);
    for (const auto& o : desc.options) {
        EXPECT_FALSE(o.doc.empty()) << o.name;
    }
    Options opts;
    opts.set("columns", {OptionType::List, std::vector<std::string>{"a", "b"}, {}, true});
    opts.set("separator", {OptionType::String, std::string(";"), {}, true});
    opts.set("decimal_comma", {OptionType::Bool, true, {}, true});
    opts.set("header", {OptionType::Bool, false, {}, false});
    auto d = desc.make_decoder(opts);
    EXPECT_EQ(value(run(*d, "x;1,5").records.at(0), "b"), FieldValue{1.5});

    Options bad;
    bad.set("decimal_comma", {OptionType::Bool, true, {}, true});
    EXPECT_THROW(desc.make_decoder(bad), ConfigError);
}

}  // namespace
}  // namespace sluice::decoders
