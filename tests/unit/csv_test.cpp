// The one CSV tokenizer (text/csv.hpp).
#include "text/csv.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sluice::csv {
namespace {

struct Result {
    std::vector<std::vector<std::string>> rows;  // blank rows as {}
    std::vector<std::size_t> lines;
    std::vector<Problem> problems;
};

Result read_all(std::string_view text, const Dialect& d = Dialect{}) {
    Result r;
    Reader reader(text, d);
    Row row;
    Problem p;
    while (!reader.done()) {
        if (!reader.next(row, p)) {
            r.problems.push_back(p);
            continue;
        }
        r.rows.emplace_back(row.fields.begin(), row.fields.begin() + static_cast<std::ptrdiff_t>(row.size));
        r.lines.push_back(row.line);
    }
    return r;
}

using Rows = std::vector<std::vector<std::string>>;

TEST(Csv, FieldsQuotesAndLineEnds) {
    const auto r = read_all("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n,,\n");
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(r.rows, (Rows{{"a", "b", "c"}, {"1", "x, y", "say \"hi\""}, {"", "", ""}}));
    EXPECT_EQ(r.lines, (std::vector<std::size_t>{1, 2, 3}));
}

TEST(Csv, QuotedFieldsSpanLines) {
    const auto r = read_all("a,\"one\ntwo\"\nb,c");
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(r.rows, (Rows{{"a", "one\ntwo"}, {"b", "c"}}));
    EXPECT_EQ(r.lines, (std::vector<std::size_t>{1, 3})) << "rows name the line they start on";
}

TEST(Csv, BlanksAndBlankRows) {
    const auto r = read_all("  a , \"b \" \t,c\r\n \t\r\n\n");
    EXPECT_TRUE(r.problems.empty());
    EXPECT_EQ(r.rows, (Rows{{"a", "b ", "c"}, {}, {}})) << "quoted blanks are kept; blank rows have no fields";
    EXPECT_EQ(read_all("a,\"b\"c").rows, Rows{});
}

TEST(Csv, DelimiterOfSeveralCharactersOrATab) {
    Dialect d;
    d.delimiter = "||";
    EXPECT_EQ(read_all("a||b|c|| \"d||e\"\n", d).rows, (Rows{{"a", "b|c", "d||e"}}));
    d.delimiter = "\t";
    EXPECT_EQ(read_all("a\t b \t\tc\n", d).rows, (Rows{{"a", "b", "", "c"}})) << "a tab is not a blank then, a space is";
    d.delimiter = "a\"";
    EXPECT_THROW(Reader("", d), std::invalid_argument);
    d.delimiter = "";
    EXPECT_THROW(Reader("", d), std::invalid_argument);
}

TEST(Csv, ProblemsNameLineAndColumnAndReadingGoesOn) {
    auto r = read_all("a,b\n1,\"2\" x,3\n4,5\n");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].error, Error::TextAfterQuote);
    EXPECT_EQ(r.problems[0].line, 2u);
    EXPECT_EQ(r.problems[0].message, "unexpected 'x' after a quoted field at column 7");
    EXPECT_TRUE(r.problems[0].delimiter_on_line);
    EXPECT_EQ(r.rows, (Rows{{"a", "b"}, {"4", "5"}}));

    r = read_all("a,b\nc,\"d\ne\n");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].error, Error::UnterminatedQuote);
    EXPECT_EQ(r.problems[0].message, "unterminated quoted field starting at column 3");
    EXPECT_EQ(r.rows, (Rows{{"a", "b"}})) << "nothing after an open quote";

    r = read_all("say \"hi\" there\n\"open");
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_FALSE(r.problems[0].delimiter_on_line) << "no delimiter: likely not CSV";
    EXPECT_EQ(r.rows, (Rows{{"say \"hi\" there"}})) << "a quote inside an unquoted field is data";
}

TEST(Csv, BoundedFieldCountAndSize) {
    Dialect d;
    d.max_fields = 3;
    d.max_field_bytes = 4;
    auto r = read_all("a,b,c\na,b,c,d\nabcd,\"abcd\"\nabcde\n\"ab\"\"cd\"\n", d);
    EXPECT_EQ(r.rows, (Rows{{"a", "b", "c"}, {"abcd", "abcd"}}));
    ASSERT_EQ(r.problems.size(), 3u);
    EXPECT_EQ(r.problems[0].error, Error::TooManyFields);
    EXPECT_EQ(r.problems[0].line, 2u);
    EXPECT_EQ(r.problems[1].error, Error::FieldTooLarge);
    EXPECT_EQ(r.problems[1].line, 4u);
    EXPECT_EQ(r.problems[2].error, Error::FieldTooLarge);
}

TEST(Csv, LinearOnHostileInput) {
    // Many delimiters, many quotes: each byte is looked at a bounded number of times.
    std::string text(1 << 18, ',');
    Dialect d;
    d.max_fields = std::size_t{1} << 21;
    auto r = read_all(text, d);
    ASSERT_EQ(r.rows.size(), 1u);
    EXPECT_EQ(r.rows[0].size(), text.size() + 1);
    std::string quotes(1 << 20, '"');
    r = read_all(quotes);
    EXPECT_EQ(r.rows.size() + r.problems.size(), 1u);
}

}  // namespace
}  // namespace sluice::csv
