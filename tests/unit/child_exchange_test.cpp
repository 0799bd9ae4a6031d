// ChildExchange against small /bin/sh and cat children: answers in order
// for a large pipelined batch, restarts after a crash with the request in
// flight sent again, a hang stopped at the timeout and its request given up
// after max_attempts, an over-long answer skipped, a program that cannot
// start, and a stop that cuts the wait short.

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/child_exchange.hpp"
#include "core/metrics.hpp"

namespace sluice {
namespace {

ChildExchangeConfig config(std::string name, std::vector<std::string> argv) {
    ChildExchangeConfig c;
    c.name = std::move(name);
    c.command.argv = std::move(argv);
    c.command.env = {"PATH=/usr/bin:/bin"};
    c.command.restart_initial = std::chrono::milliseconds(5);
    c.command.restart_max = std::chrono::milliseconds(20);
    c.command.stop_grace = std::chrono::milliseconds(200);
    c.timeout = std::chrono::seconds(10);
    c.max_attempts = 3;
    return c;
}

double exits(const std::string& name, const std::string& result) {
    return static_cast<double>(
        metrics().counter("sluice_exec_exits_total", kExecExitsHelp, {{"component", name}, {"result", result}}).value());
}

TEST(ChildExchange, PipelinesALargeBatchInOrder) {
    ChildExchange x(config("t/cat", {"cat"}));
    x.start();
    std::vector<std::string> requests;
    for (int i = 0; i < 20000; ++i) {
        requests.push_back(std::to_string(i) + std::string(100, 'x'));
    }
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        ASSERT_TRUE(answers[i].ok);
        ASSERT_EQ(answers[i].text, requests[i]);
    }
    // And again, on the same child.
    ASSERT_TRUE(x.exchange(std::span(requests).first(3), answers));
    EXPECT_EQ(answers.size(), 3U);
    EXPECT_EQ(exits("t/cat", "failed"), 0);
}

TEST(ChildExchange, ACrashSendsTheRequestAgain) {
    // Each child answers one request and exits on the next.
    ChildExchange x(config("t/crash", {"/bin/sh", "-c", "read l; echo \"$l\"; read l; echo dying >&2; exit 3"}));
    std::vector<std::string> requests{"a", "b", "c"};
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), 3U);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(answers[i].ok) << answers[i].text;
        EXPECT_EQ(answers[i].text, requests[i]);
    }
    EXPECT_EQ(exits("t/crash", "failed"), 2);
}

TEST(ChildExchange, AHangIsStoppedAndItsRequestGivenUp) {
    auto c = config("t/hang", {"/bin/sh", "-c",
                               "while read l; do if [ \"$l\" = hang ]; then cat >/dev/null; fi; echo \"$l\"; done"});
    c.timeout = std::chrono::seconds(1);
    c.max_attempts = 2;
    ChildExchange x(c);
    std::vector<std::string> requests{"x", "hang", "y"};
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), 3U);
    EXPECT_TRUE(answers[0].ok);
    EXPECT_FALSE(answers[1].ok);
    EXPECT_NE(answers[1].text.find("failed on it 2 time(s): no answer within timeout (1s)"), std::string::npos)
        << answers[1].text;
    EXPECT_TRUE(answers[2].ok);
    EXPECT_EQ(answers[2].text, "y");
    EXPECT_EQ(exits("t/hang", "timeout"), 2);
}

TEST(ChildExchange, AfterACrashTheRequestsInFlightGoOneAtATime) {
    // Dies on "poison" with the requests after it already written: only
    // "poison" is given up, once it failed alone.
    auto c = config("t/poison", {"/bin/sh", "-c",
                                 "while read l; do if [ \"$l\" = poison ]; then exit 3; fi; echo \"$l\"; done"});
    c.max_attempts = 2;
    ChildExchange x(c);
    std::vector<std::string> requests{"a", "b", "poison", "c", "d"};
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), 5U);
    for (std::size_t i : {0, 1, 3, 4}) {
        EXPECT_TRUE(answers[i].ok) << i << ": " << answers[i].text;
        EXPECT_EQ(answers[i].text, requests[i]);
    }
    EXPECT_FALSE(answers[2].ok);
    EXPECT_NE(answers[2].text.find("failed on it 2 time(s)"), std::string::npos) << answers[2].text;
    EXPECT_EQ(exits("t/poison", "failed"), 2);
}

TEST(ChildExchange, AnEmptyLineIsAnAnswer) {
    ChildExchange x(config("t/empty", {"/bin/sh", "-c", "while read l; do echo; done"}));
    std::vector<std::string> requests{"a", "b", "c"};
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), 3U);
    for (const auto& a : answers) {
        EXPECT_TRUE(a.ok);
        EXPECT_EQ(a.text, "");
    }
}

// "a", "b" and "c", one call each, each answered with itself.
void expect_echoed_one_call_each(const ChildExchangeConfig& c) {
    ChildExchange x(c);
    std::vector<ChildExchange::Answer> answers;
    for (const std::string r : {"a", "b", "c"}) {
        ASSERT_TRUE(x.exchange(std::span(&r, 1), answers));
        ASSERT_EQ(answers.size(), 1U);
        EXPECT_TRUE(answers[0].ok) << answers[0].text;
        EXPECT_EQ(answers[0].text, r);
    }
}

TEST(ChildExchange, OutputNoRequestAskedForRestartsTheChild) {
    // Two lines per request, in one write: the second one must never be
    // taken for the answer to the next call's request.
    auto c = config("t/chatty", {"/bin/sh", "-c", "while read l; do printf '%s\\nextra\\n' \"$l\"; done"});
    c.max_attempts = 1;
    expect_echoed_one_call_each(c);
}

TEST(ChildExchange, AChildThatExitsBetweenCallsIsStartedAgain) {
    // (Whether the next request reaches it before it exits is a race: a
    // request written to it in time is charged an attempt and sent again.)
    auto c = config("t/oneshot", {"/bin/sh", "-c", "read l; echo \"$l\"; exit 0"});
    c.max_attempts = 2;
    expect_echoed_one_call_each(c);
}

TEST(ChildExchange, AnOverlongAnswerIsSkipped) {
    auto c = config("t/long", {"cat"});
    c.max_answer_bytes = 64;
    ChildExchange x(c);
    std::vector<std::string> requests{"short", std::string(100, 'l'), "after"};
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), 3U);
    EXPECT_TRUE(answers[0].ok);
    EXPECT_FALSE(answers[1].ok);
    EXPECT_NE(answers[1].text.find("longer than max_answer_bytes"), std::string::npos) << answers[1].text;
    EXPECT_EQ(answers[2].text, "after");
    EXPECT_EQ(exits("t/long", "failed"), 0);
}

TEST(ChildExchange, AProgramThatCannotStart) {
    auto c = config("t/missing", {"/nonexistent/decoder"});
    c.max_attempts = 2;
    ChildExchange x(c);
    EXPECT_THROW(x.start(), std::runtime_error);
    std::vector<std::string> requests{"a"};
    std::vector<ChildExchange::Answer> answers;
    ASSERT_TRUE(x.exchange(requests, answers));
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_FALSE(answers[0].ok);
    EXPECT_NE(answers[0].text.find("cannot start '/nonexistent/decoder'"), std::string::npos) << answers[0].text;
}

TEST(ChildExchange, AStopEndsTheWait) {
    auto c = config("t/stop", {"/bin/sh", "-c", "cat >/dev/null; exit 0"});
    ChildExchange x(c);
    std::atomic<bool> stopping{false};
    int waits = 0;
    x.set_hooks(&stopping, [&] {
        if (++waits == 3) {
            stopping = true;
        }
    });
    std::vector<std::string> requests{"never answered"};
    std::vector<ChildExchange::Answer> answers;
    EXPECT_FALSE(x.exchange(requests, answers));
    EXPECT_TRUE(answers.empty());
    EXPECT_GE(waits, 3);
    EXPECT_EQ(exits("t/stop", "failed") + exits("t/stop", "timeout"), 0);
}

}  // namespace
}  // namespace sluice
