// Which `http` source a POST /api/send request goes to.

#include <gtest/gtest.h>

#include "core/push_endpoints.hpp"

namespace sluice {
namespace {

struct Calls {
    std::vector<std::string> to;
};

PushEndpoints::Handler recorder(Calls& calls, std::string name) {
    return [&calls, name](PushRequest&& req, PushReply reply) {
        calls.to.push_back(name + ":" + req.body);
        reply(PushAnswer{.status = 200, .frames = 1});
    };
}

TEST(PushEndpoints, ChoosesTheOnlyMatch) {
    PushEndpoints t;
    Calls calls;
    std::string error;
    int answered = 0;
    PushReply reply = [&](PushAnswer a) { answered += a.status == 200; };
    EXPECT_FALSE(t.dispatch("", "", PushRequest{.body = "x"}, reply, &error));
    EXPECT_NE(error.find("no `http` source is configured in this gateway"), std::string::npos) << error;

    const auto a = t.add("p", "in", recorder(calls, "p/in"));
    EXPECT_TRUE(t.dispatch("", "", PushRequest{.body = "1"}, reply, &error));
    EXPECT_TRUE(t.dispatch("p", "", PushRequest{.body = "2"}, reply, &error));
    EXPECT_TRUE(t.dispatch("p", "in", PushRequest{.body = "3"}, reply, &error));
    EXPECT_FALSE(t.dispatch("q", "", PushRequest{.body = "4"}, reply, &error));
    EXPECT_NE(error.find("pipeline 'q'"), std::string::npos) << error;
    EXPECT_FALSE(t.dispatch("p", "other", PushRequest{.body = "5"}, reply, &error));
    EXPECT_NE(error.find("'other'"), std::string::npos) << error;

    const auto b = t.add("p", "second", recorder(calls, "p/second"));
    EXPECT_FALSE(t.dispatch("p", "", PushRequest{.body = "6"}, reply, &error));
    EXPECT_NE(error.find("more than one"), std::string::npos) << error;
    EXPECT_TRUE(t.dispatch("p", "second", PushRequest{.body = "7"}, reply, &error));

    t.remove(a);
    EXPECT_TRUE(t.dispatch("", "", PushRequest{.body = "8"}, reply, &error));
    t.remove(b);
    EXPECT_FALSE(t.dispatch("p", "", PushRequest{.body = "9"}, reply, &error));

    EXPECT_EQ(calls.to, (std::vector<std::string>{"p/in:1", "p/in:2", "p/in:3", "p/second:7", "p/second:8"}));
    EXPECT_EQ(answered, 5);
}

}  // namespace
}  // namespace sluice
