// Typed option values: durations, sizes, ${ENV}, secrets, did-you-mean and
// resolve_options against a spec table.

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "config/resolve.hpp"
#include "core/options.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;

std::optional<std::chrono::nanoseconds> dur(std::string_view s) { return parse_duration(s); }

TEST(ParseDuration, Units) {
    EXPECT_EQ(dur("250ms"), 250ms);
    EXPECT_EQ(dur("10s"), 10s);
    EXPECT_EQ(dur("1m30s"), 90s);
    EXPECT_EQ(dur("2h"), 2h);
    EXPECT_EQ(dur("1d"), 24h);
    EXPECT_EQ(dur("500us"), 500us);
    EXPECT_EQ(dur("500\xC2\xB5s"), 500us);
    EXPECT_EQ(dur("100ns"), 100ns);
    EXPECT_EQ(dur("1h2m3s4ms"), 1h + 2min + 3s + 4ms);
    EXPECT_EQ(dur(" 10 s "), 10s);
}

TEST(ParseDuration, FractionsAreExact) {
    EXPECT_EQ(dur("1.5s"), 1500ms);
    EXPECT_EQ(dur("0.1s"), 100ms);
    EXPECT_EQ(dur(".5m"), 30s);
    EXPECT_EQ(dur("1.5ns"), 1ns);  // below resolution: truncated
}

TEST(ParseDuration, ZeroNeedsNoUnit) {
    EXPECT_EQ(dur("0"), 0ns);
    EXPECT_EQ(dur("0s"), 0ns);
    EXPECT_EQ(dur("0.0"), 0ns);
}

TEST(ParseDuration, Errors) {
    std::string err;
    EXPECT_FALSE(parse_duration("10", &err));
    EXPECT_NE(err.find("duration needs a unit, e.g. \"10s\""), std::string::npos) << err;
    EXPECT_FALSE(parse_duration("", &err));
    EXPECT_FALSE(parse_duration("s", &err));
    EXPECT_FALSE(parse_duration("-5s", &err));
    EXPECT_NE(err.find("negative"), std::string::npos) << err;
    EXPECT_FALSE(parse_duration("10x", &err));
    EXPECT_NE(err.find("unknown unit \"x\""), std::string::npos) << err;
    EXPECT_FALSE(parse_duration("1s5", &err));
    EXPECT_FALSE(parse_duration("1.2.3s", &err));
    EXPECT_FALSE(parse_duration("10S", &err));  // units are case-sensitive: M would be ambiguous
    EXPECT_FALSE(parse_duration("999999999999d", &err));
    EXPECT_NE(err.find("too large"), std::string::npos) << err;
    EXPECT_FALSE(parse_duration("99999999999999999999999s", &err));
    EXPECT_FALSE(parse_duration("106752d", &err));  // just over int64 nanoseconds
    EXPECT_TRUE(parse_duration("106751d"));
}

TEST(FormatDuration, RoundTrips) {
    EXPECT_EQ(format_duration(0ns), "0s");
    EXPECT_EQ(format_duration(90s), "1m30s");
    EXPECT_EQ(format_duration(250ms), "250ms");
    EXPECT_EQ(format_duration(24h + 1s), "1d1s");
    EXPECT_EQ(format_duration(1500ms), "1s500ms");
    EXPECT_EQ(format_duration(-2s), "-2s");
    for (std::chrono::nanoseconds d : std::initializer_list<std::chrono::nanoseconds>{
             1ns, 999ns, 1001us, 61s, 3601s, 86399s, std::chrono::nanoseconds(9223372036854775807LL)}) {
        EXPECT_EQ(dur(format_duration(d)), d) << format_duration(d);
    }
}

TEST(ParseSize, Units) {
    EXPECT_EQ(parse_size("64MiB"), 64u << 20);
    EXPECT_EQ(parse_size("1GB"), 1000000000u);
    EXPECT_EQ(parse_size("512k"), 512u << 10);
    EXPECT_EQ(parse_size("512K"), 512u << 10);
    EXPECT_EQ(parse_size("2KB"), 2000u);
    EXPECT_EQ(parse_size("2kib"), 2048u);
    EXPECT_EQ(parse_size("1G"), 1u << 30);
    EXPECT_EQ(parse_size("100"), 100u);
    EXPECT_EQ(parse_size("100B"), 100u);
    EXPECT_EQ(parse_size("1.5KiB"), 1536u);
    EXPECT_EQ(parse_size(" 8 MiB "), 8u << 20);
    EXPECT_EQ(parse_size("0"), 0u);
}

TEST(ParseSize, Errors) {
    std::string err;
    EXPECT_FALSE(parse_size("", &err));
    EXPECT_FALSE(parse_size("MiB", &err));
    EXPECT_FALSE(parse_size("-1MiB", &err));
    EXPECT_FALSE(parse_size("10XB", &err));
    EXPECT_NE(err.find("unknown unit"), std::string::npos) << err;
    EXPECT_FALSE(parse_size("1KiB2", &err));
    EXPECT_FALSE(parse_size("99999999999999999999", &err));
    EXPECT_FALSE(parse_size("9999999999TiB", &err));
    EXPECT_NE(err.find("too large"), std::string::npos) << err;
}

TEST(FormatSize, PicksExactUnit) {
    EXPECT_EQ(format_size(0), "0B");
    EXPECT_EQ(format_size(64u << 20), "64MiB");
    EXPECT_EQ(format_size(1536), "1536B");
    EXPECT_EQ(format_size(1000000000), "1GB");
    EXPECT_EQ(format_size(65536), "64KiB");
    EXPECT_EQ(format_size(7), "7B");
    for (std::uint64_t b : {1ULL, 1000ULL, 1024ULL, 1ULL << 40, 123456789ULL}) {
        EXPECT_EQ(parse_size(format_size(b)), b);
    }
}

TEST(DidYouMean, FindsCloseWords) {
    const std::vector<std::string> c = {"chain", "columns", "separator"};
    EXPECT_EQ(did_you_mean("chian", c), "chain");
    EXPECT_EQ(did_you_mean("colums", c), "columns");
    EXPECT_EQ(did_you_mean("seperator", c), "separator");
    EXPECT_EQ(did_you_mean("CHAIN", c), "chain");
    EXPECT_FALSE(did_you_mean("path", c));
    EXPECT_FALSE(did_you_mean("", c));
    const std::vector<std::string_view> v = {"file", "stdin", "mqtt"};
    EXPECT_EQ(did_you_mean("fiel", v), "file");
    EXPECT_EQ(did_you_mean("stdn", v), "stdin");
    EXPECT_FALSE(did_you_mean("kafka", v));
    EXPECT_FALSE(did_you_mean("x", std::span<const std::string_view>{}));
}

TEST(ExpandEnv, Variables) {
    ::setenv("SLUICE_T_HOST", "broker.local", 1);
    ::unsetenv("SLUICE_T_UNSET");
    std::string err;
    EXPECT_EQ(expand_env("tcp://${SLUICE_T_HOST}:1883", &err), "tcp://broker.local:1883");
    EXPECT_EQ(expand_env("no vars $HOME $", &err), "no vars $HOME $");
    EXPECT_EQ(expand_env("$${SLUICE_T_HOST}", &err), "${SLUICE_T_HOST}");
    EXPECT_EQ(expand_env("${SLUICE_T_UNSET:-fallback}", &err), "fallback");
    EXPECT_EQ(expand_env("${SLUICE_T_HOST:-fallback}", &err), "broker.local");

    EXPECT_FALSE(expand_env("x${SLUICE_T_UNSET}y", &err));
    EXPECT_EQ(err, "environment variable 'SLUICE_T_UNSET' is not set");
    EXPECT_FALSE(expand_env("${SLUICE_T_HOST", &err));
    EXPECT_NE(err.find("unterminated"), std::string::npos);
    EXPECT_FALSE(expand_env("${}", &err));
    EXPECT_FALSE(expand_env("${1ABC}", &err));
    EXPECT_FALSE(expand_env("${A-B}", &err));
}

class TempFile {
public:
    explicit TempFile(std::string_view content) {
        path_ = std::filesystem::temp_directory_path() /
                ("sluice-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
        std::ofstream(path_) << content;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    std::string path() const { return path_.string(); }

private:
    static inline int counter_ = 0;
    std::filesystem::path path_;
};

TEST(ResolveSecret, Forms) {
    std::string err;
    TempFile f("s3cr3t-from-file\n");
    EXPECT_EQ(resolve_secret("@" + f.path(), &err), "s3cr3t-from-file");
    EXPECT_EQ(resolve_secret("plain", &err), "plain");
    EXPECT_EQ(resolve_secret("@@literal", &err), "@literal");

    ::setenv("SLUICE_T_PW", "@not-a-path", 1);
    EXPECT_EQ(resolve_secret("${SLUICE_T_PW}", &err), "@not-a-path");  // env values are never '@' forms

    EXPECT_FALSE(resolve_secret("@/nonexistent/sluice/secret", &err));
    EXPECT_NE(err.find("/nonexistent/sluice/secret"), std::string::npos);
    EXPECT_FALSE(resolve_secret("@", &err));
    // A literal secret that happens to begin with '@' (one Z85 key in 85
    // does) is not a file: the error says how to write it and never shows it.
    EXPECT_FALSE(resolve_secret("@uIJGQo%CzjTnlo>Rnr?i.]pnp#L@>@x=MnD*bwR", &err));
    EXPECT_EQ(err.find("uIJGQo"), std::string::npos) << err;
    EXPECT_NE(err.find("'@@"), std::string::npos) << err;
    EXPECT_EQ(resolve_secret("@@uIJGQo%CzjTnlo>Rnr?i.]pnp#L@>@x=MnD*bwR", &err),
              "@uIJGQo%CzjTnlo>Rnr?i.]pnp#L@>@x=MnD*bwR");
}

TEST(ResolveSecret, SystemdCredential) {
    const auto dir = std::filesystem::temp_directory_path() / ("sluice-cred-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "token") << "cred-value\r\n";
    ::setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
    std::string err;
    EXPECT_EQ(resolve_secret("@credential:token", &err), "cred-value");
    EXPECT_FALSE(resolve_secret("@credential:../etc/passwd", &err));
    EXPECT_FALSE(resolve_secret("@credential:missing", &err));
    ::unsetenv("CREDENTIALS_DIRECTORY");
    EXPECT_FALSE(resolve_secret("@credential:token", &err));
    EXPECT_NE(err.find("CREDENTIALS_DIRECTORY"), std::string::npos);
    std::filesystem::remove_all(dir);
}

// ------------------------------------------------------------ resolve_options

const OptionSpec kSpecs[] = {
    {.name = "name", .type = OptionType::String, .default_value = "x", .doc = "", .min = 1, .max = 8},
    {.name = "count", .type = OptionType::Int, .default_value = "3", .doc = "", .min = 1, .max = 10},
    {.name = "ratio", .type = OptionType::Float, .default_value = "0.5", .doc = "", .min = 0, .max = 1},
    {.name = "enabled", .type = OptionType::Bool, .default_value = "true"},
    {.name = "timeout", .type = OptionType::Duration, .default_value = "10s", .doc = "", .min = 1, .max = 60},
    {.name = "limit", .type = OptionType::Size, .default_value = "1MiB", .doc = "", .min = 1024},
    {.name = "password", .type = OptionType::Secret},
    {.name = "tags", .type = OptionType::List, .default_value = "a,b"},
    {.name = "mode", .type = OptionType::Enum, .default_value = "fast", .choices = "fast|safe|off"},
    {.name = "columns", .type = OptionType::List, .required = true},
};

RawEntry text_entry(std::string key, std::string value, int column = 5) {
    RawEntry e;
    e.key = std::move(key);
    e.key_pos = {"-e", 1, column};
    e.value.v = std::move(value);
    e.value.pos = {"-e", 1, column + static_cast<int>(e.key.size()) + 1};
    e.value.from_text = true;
    return e;
}

template <class T>
RawEntry toml_entry(std::string key, T value, int line = 3) {
    RawEntry e;
    e.key = std::move(key);
    e.key_pos = {"c.toml", line, 1};
    e.value.v = std::move(value);
    e.value.pos = {"c.toml", line, 10};
    return e;
}

const SourcePos kOwner{"c.toml", 1, 1};

TEST(ResolveOptions, DefaultsAndTypes) {
    Diagnostics diag;
    RawTable t = {toml_entry("columns", std::string("a,b"))};
    Options o = resolve_options(kSpecs, t, "decoder 'csv'", kOwner, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.str("name"), "x");
    EXPECT_EQ(o.integer("count"), 3);
    EXPECT_DOUBLE_EQ(o.number("ratio"), 0.5);
    EXPECT_TRUE(o.boolean("enabled"));
    EXPECT_EQ(o.duration("timeout"), 10s);
    EXPECT_EQ(o.size("limit"), 1u << 20);
    EXPECT_FALSE(o.has("password"));
    EXPECT_EQ(o.list("tags"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(o.str("mode"), "fast");
    EXPECT_FALSE(o.is_explicit("count"));
    EXPECT_TRUE(o.is_explicit("columns"));
    EXPECT_EQ(o.pos("count").str(), "c.toml:1:1");  // defaults sit at the owner
    EXPECT_EQ(o.pos("columns").str(), "c.toml:3:10");
}

TEST(ResolveOptions, FromText) {
    Diagnostics diag;
    RawTable t = {text_entry("count", "7"),          text_entry("ratio", "0.25"),  text_entry("enabled", "off"),
                  text_entry("timeout", "1m"),       text_entry("limit", "2KB"),   text_entry("tags", " x , y ,,z "),
                  text_entry("mode", "safe"),        text_entry("columns", "t"),   text_entry("password", "pw")};
    Options o = resolve_options(kSpecs, t, "decode", {"-e", 1, 1}, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.integer("count"), 7);
    EXPECT_DOUBLE_EQ(o.number("ratio"), 0.25);
    EXPECT_FALSE(o.boolean("enabled"));
    EXPECT_EQ(o.duration("timeout"), 60s);
    EXPECT_EQ(o.size("limit"), 2000u);
    EXPECT_EQ(o.list("tags"), (std::vector<std::string>{"x", "y", "z"}));
    EXPECT_EQ(o.str("password"), "pw");
}

TEST(ResolveOptions, BoolSpellings) {
    for (auto [text, want] : {std::pair{"true", true}, {"YES", true}, {"on", true}, {"1", true}, {"false", false},
                              {"no", false}, {"Off", false}, {"0", false}}) {
        Diagnostics diag;
        RawTable t = {text_entry("enabled", text), text_entry("columns", "a")};
        Options o = resolve_options(kSpecs, t, "x", kOwner, diag);
        ASSERT_TRUE(diag.empty()) << text << ": " << diag.str();
        EXPECT_EQ(o.boolean("enabled"), want) << text;
    }
}

std::string one_error(const RawTable& t, std::span<const std::string_view> passthrough = {}) {
    Diagnostics diag;
    resolve_options(kSpecs, t, "decoder 'csv'", kOwner, diag, passthrough);
    if (diag.size() != 1) {
        return "expected one error, got: " + diag.str();
    }
    return diag.items()[0].str();
}

TEST(ResolveOptions, UnknownKey) {
    EXPECT_EQ(one_error({toml_entry("columns", std::string("a")), toml_entry("cuont", std::int64_t{1}, 7)}),
              "c.toml:7:1: unknown option 'cuont' for decoder 'csv' (did you mean 'count'?)");
    EXPECT_EQ(one_error({toml_entry("columns", std::string("a")), toml_entry("zzzzzz", std::int64_t{1})}),
              "c.toml:3:1: unknown option 'zzzzzz' for decoder 'csv' (valid options: name, count, ratio, enabled, "
              "timeout, limit, password, tags, mode, columns)");
    const std::string_view pass[] = {"type"};
    EXPECT_EQ(one_error({toml_entry("columns", std::string("a")), toml_entry("tpye", std::string("csv"))}, pass),
              "c.toml:3:1: unknown option 'tpye' for decoder 'csv' (did you mean 'type'?)");
    EXPECT_EQ(one_error({toml_entry("columns", std::string("a")), toml_entry("type", std::string("csv"))}, pass),
              "expected one error, got: ");
}

TEST(ResolveOptions, WrongTypes) {
    auto with = [](RawEntry e) { return RawTable{toml_entry("columns", std::string("a")), std::move(e)}; };
    EXPECT_EQ(one_error(with(toml_entry("count", std::string("5")))),
              "c.toml:3:10: option 'count' for decoder 'csv' must be an integer, not a string");
    EXPECT_EQ(one_error(with(toml_entry("name", std::int64_t{5}))),
              "c.toml:3:10: option 'name' for decoder 'csv' must be a string, not an integer");
    EXPECT_EQ(one_error(with(toml_entry("enabled", std::string("yes")))),
              "c.toml:3:10: option 'enabled' for decoder 'csv' must be true or false (without quotes)");
    EXPECT_EQ(one_error(with(toml_entry("timeout", std::int64_t{10}))),
              "c.toml:3:10: option 'timeout' for decoder 'csv': duration needs a unit, e.g. \"10s\"");
    EXPECT_EQ(one_error(with(toml_entry("ratio", true))),
              "c.toml:3:10: option 'ratio' for decoder 'csv' must be a number, not a boolean");
    EXPECT_EQ(one_error(with(toml_entry("tags", std::int64_t{1}))),
              "c.toml:3:10: option 'tags' for decoder 'csv' must be a list of strings, not an integer");
    EXPECT_EQ(one_error(with(text_entry("count", "seven"))),
              "-e:1:11: option 'count' for decoder 'csv' must be an integer, got \"seven\"");
    EXPECT_EQ(one_error(with(text_entry("enabled", "maybe"))),
              "-e:1:13: option 'enabled' for decoder 'csv' must be true or false, got \"maybe\"");
    RawArray arr(2);
    arr[0].v = std::string("ok");
    arr[1].v = std::int64_t{3};
    arr[1].pos = {"c.toml", 3, 20};
    EXPECT_EQ(one_error(with(toml_entry("tags", arr))),
              "c.toml:3:20: option 'tags' for decoder 'csv' must be a list of strings; an element is an integer");
}

TEST(ResolveOptions, ZeroDurationNeedsNoUnit) {
    Diagnostics diag;
    RawTable t = {toml_entry("columns", std::string("a")), toml_entry("timeout", std::int64_t{0})};
    const OptionSpec spec[] = {{.name = "timeout", .type = OptionType::Duration}, kSpecs[9]};
    Options o = resolve_options(spec, t, "x", kOwner, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.duration("timeout"), 0ns);
}

TEST(ResolveOptions, Ranges) {
    auto with = [](RawEntry e) { return RawTable{toml_entry("columns", std::string("a")), std::move(e)}; };
    EXPECT_EQ(one_error(with(toml_entry("count", std::int64_t{11}))),
              "c.toml:3:10: option 'count' for decoder 'csv' must be between 1 and 10, got 11");
    EXPECT_EQ(one_error(with(toml_entry("ratio", 1.5))),
              "c.toml:3:10: option 'ratio' for decoder 'csv' must be between 0 and 1, got 1.5");
    EXPECT_EQ(one_error(with(toml_entry("timeout", std::string("2m")))),
              "c.toml:3:10: option 'timeout' for decoder 'csv' must be between 1s and 1m, got 2m");
    EXPECT_EQ(one_error(with(toml_entry("timeout", std::string("500ms")))),
              "c.toml:3:10: option 'timeout' for decoder 'csv' must be between 1s and 1m, got 500ms");
    EXPECT_EQ(one_error(with(toml_entry("limit", std::string("1000B")))),
              "c.toml:3:10: option 'limit' for decoder 'csv' must be at least 1KiB, got 1KB");
    EXPECT_EQ(one_error(with(toml_entry("name", std::string("much too long")))),
              "c.toml:3:10: option 'name' for decoder 'csv' must have between 1 and 8 characters");
    EXPECT_EQ(one_error(with(toml_entry("limit", std::int64_t{-1}))),
              "c.toml:3:10: option 'limit' for decoder 'csv' must not be negative, got -1");
    EXPECT_EQ(one_error(with(toml_entry("ratio", std::numeric_limits<double>::quiet_NaN()))),
              "c.toml:3:10: option 'ratio' for decoder 'csv' must be a finite number");
}

TEST(ResolveOptions, Enum) {
    auto with = [](RawEntry e) { return RawTable{toml_entry("columns", std::string("a")), std::move(e)}; };
    EXPECT_EQ(one_error(with(toml_entry("mode", std::string("saef")))),
              "c.toml:3:10: option 'mode' for decoder 'csv' must be one of fast, safe, off, got \"saef\" (did you "
              "mean 'safe'?)");
    EXPECT_EQ(one_error(with(toml_entry("mode", std::string("turbo")))),
              "c.toml:3:10: option 'mode' for decoder 'csv' must be one of fast, safe, off, got \"turbo\"");
}

TEST(ResolveOptions, MissingRequired) {
    EXPECT_EQ(one_error({}), "c.toml:1:1: decoder 'csv' needs option 'columns'");
}

TEST(ResolveOptions, GivenTwice) {
    EXPECT_EQ(one_error({text_entry("columns", "a", 1), text_entry("columns", "b", 20)}),
              "-e:1:20: option 'columns' for decoder 'csv' is given twice");
}

// A renamed option: the old name is still accepted (OptionSpec::deprecated_alias).
const OptionSpec kAliasSpecs[] = {
    {.name = "ca_file", .type = OptionType::String, .doc = "CA bundle", .deprecated_alias = "ssl_ca_location"},
    {.name = "key_password", .type = OptionType::Secret, .deprecated_alias = "ssl_key_password"},
    {.name = "port", .type = OptionType::Int, .default_value = "9092"},
};

TEST(ResolveOptions, DeprecatedAliasStoresUnderTheNewName) {
    Diagnostics diag;
    RawTable t = {toml_entry("ssl_ca_location", std::string("/etc/ca.pem"), 4)};
    Options o = resolve_options(kAliasSpecs, t, "sink 'kafka'", kOwner, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.str("ca_file"), "/etc/ca.pem");
    EXPECT_TRUE(o.is_explicit("ca_file"));
    EXPECT_FALSE(o.has("ssl_ca_location"));
    EXPECT_EQ(o.pos("ca_file").str(), "c.toml:4:10");
    ASSERT_EQ(diag.warnings().size(), 1u);
    EXPECT_EQ(diag.warnings()[0].str(),
              "c.toml:4:1: option 'ssl_ca_location' for sink 'kafka' is deprecated, use 'ca_file'");
}

TEST(ResolveOptions, DeprecatedAliasWarnsOncePerPosition) {
    Diagnostics diag;
    RawTable t = {toml_entry("ssl_ca_location", std::string("/etc/ca.pem"), 4)};
    resolve_options(kAliasSpecs, t, "sink 'kafka'", kOwner, diag);
    resolve_options(kAliasSpecs, t, "sink 'kafka'", kOwner, diag);  // the same table checked again
    EXPECT_EQ(diag.warnings().size(), 1u);
    Diagnostics other;
    other.append(diag);
    other.append(diag);
    EXPECT_EQ(other.warnings().size(), 1u);
    EXPECT_TRUE(other.empty());
}

TEST(ResolveOptions, NewNameDoesNotWarn) {
    Diagnostics diag;
    RawTable t = {toml_entry("ca_file", std::string("/etc/ca.pem"))};
    Options o = resolve_options(kAliasSpecs, t, "sink 'kafka'", kOwner, diag);
    EXPECT_TRUE(diag.empty()) << diag.str();
    EXPECT_TRUE(diag.warnings().empty());
    EXPECT_EQ(o.str("ca_file"), "/etc/ca.pem");
}

TEST(ResolveOptions, DeprecatedAliasAndNewNameTogetherIsAnError) {
    Diagnostics diag;
    RawTable t = {toml_entry("ssl_ca_location", std::string("/a.pem"), 4),
                  toml_entry("ca_file", std::string("/b.pem"), 7)};
    resolve_options(kAliasSpecs, t, "sink 'kafka'", kOwner, diag);
    ASSERT_EQ(diag.size(), 1u) << diag.str();
    EXPECT_EQ(diag.items()[0].str(),
              "c.toml:7:1: option 'ca_file' for sink 'kafka' is given twice: as 'ssl_ca_location' (c.toml:4:1) and "
              "as 'ca_file' (c.toml:7:1); 'ssl_ca_location' is the deprecated name of 'ca_file', keep only "
              "'ca_file'");
    // In the other order too.
    Diagnostics diag2;
    RawTable t2 = {toml_entry("ca_file", std::string("/b.pem"), 2),
                   toml_entry("ssl_ca_location", std::string("/a.pem"), 5)};
    resolve_options(kAliasSpecs, t2, "sink 'kafka'", kOwner, diag2);
    ASSERT_EQ(diag2.size(), 1u) << diag2.str();
    EXPECT_NE(diag2.items()[0].message.find("as 'ca_file' (c.toml:2:1) and as 'ssl_ca_location' (c.toml:5:1)"),
              std::string::npos)
        << diag2.str();
}

TEST(ResolveOptions, DeprecatedAliasIsCheckedLikeTheNewName) {
    // A secret under its old name is still a secret: @file forms work, and
    // the value never shows in a message.
    Diagnostics diag;
    RawTable t = {text_entry("ssl_key_password", "hunter2")};
    Options o = resolve_options(kAliasSpecs, t, "sink 'kafka'", kOwner, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.str("key_password"), "hunter2");
    ASSERT_EQ(diag.warnings().size(), 1u);
    EXPECT_EQ(diag.warnings()[0].message.find("hunter2"), std::string::npos);
    // Unknown keys are not suggested the old names.
    Diagnostics diag2;
    resolve_options(kAliasSpecs, RawTable{text_entry("ssl_ca_locaton", "x")}, "sink 'kafka'", kOwner, diag2);
    ASSERT_EQ(diag2.size(), 1u);
    EXPECT_EQ(diag2.items()[0].message.find("(did you mean 'ssl_ca_location'?)"), std::string::npos)
        << diag2.str();
}

TEST(ResolveOptions, EnvInStringsAndLists) {
    ::setenv("SLUICE_T_NAME", "envname", 1);
    ::setenv("SLUICE_T_COUNT", "9", 1);
    ::unsetenv("SLUICE_T_MISSING");
    Diagnostics diag;
    RawArray cols(2);
    cols[0].v = std::string("${SLUICE_T_NAME}");
    cols[1].v = std::string("plain");
    RawTable t = {toml_entry("columns", cols), toml_entry("name", std::string("${SLUICE_T_NAME}")),
                  toml_entry("count", std::string("${SLUICE_T_COUNT}"))};
    Options o = resolve_options(kSpecs, t, "x", kOwner, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.str("name"), "envname");
    EXPECT_EQ(o.integer("count"), 9);  // from the environment, so read as text
    EXPECT_EQ(o.list("columns"), (std::vector<std::string>{"envname", "plain"}));

    EXPECT_EQ(one_error({toml_entry("columns", std::string("a")), toml_entry("name", std::string("${SLUICE_T_MISSING}"))}),
              "c.toml:3:10: option 'name' for decoder 'csv': environment variable 'SLUICE_T_MISSING' is not set");
}

TEST(ResolveOptions, SecretsNeverInMessages) {
    const std::string secret = "hunter2-very-secret";
    TempFile f(secret + "\n");
    ::setenv("SLUICE_T_SECRET", secret.c_str(), 1);
    const OptionSpec specs[] = {{.name = "password", .type = OptionType::Secret, .doc = "", .min = 30}};
    for (const std::string& written : {secret, "@" + f.path(), std::string("${SLUICE_T_SECRET}")}) {
        Diagnostics diag;
        resolve_options(specs, {toml_entry("password", written)}, "sink 'http'", kOwner, diag);
        ASSERT_EQ(diag.size(), 1u);
        EXPECT_EQ(diag.str().find(secret), std::string::npos) << diag.str();
        EXPECT_NE(diag.str().find("at least 30 characters"), std::string::npos) << diag.str();
    }
    Diagnostics diag;
    Options o = resolve_options(kSpecs, {toml_entry("password", "@" + f.path()), toml_entry("columns", std::string("a"))},
                                "x", kOwner, diag);
    ASSERT_TRUE(diag.empty()) << diag.str();
    EXPECT_EQ(o.str("password"), secret);
}

TEST(ResolveOptions, TypeNames) {
    EXPECT_EQ(option_type_name(OptionType::Duration), "duration");
    EXPECT_EQ(option_type_name(OptionType::Size), "size");
    RawValue v;
    v.v = RawTable{};
    EXPECT_EQ(v.describe(), "a table");
    v.v = 1.5;
    EXPECT_EQ(v.describe(), "a float");
    RawTable t = {toml_entry("a", std::int64_t{1})};
    EXPECT_NE(find_entry(t, "a"), nullptr);
    EXPECT_EQ(find_entry(t, "b"), nullptr);
}

}  // namespace
}  // namespace sluice
