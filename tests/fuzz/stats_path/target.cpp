// The /stats request target on arbitrary input: split into percent-decoded
// segments, and the query's `since` parsed; a topic segment is then looked
// up in a hub that tracks a few topics.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "stats/hub.hpp"
#include "stats/routes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 64 * 1024) {
        return 0;
    }
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    static sluice::stats::StatsHub& hub = []() -> sluice::stats::StatsHub& {
        static sluice::stats::StatsHub h;
        h.set_max_topics(2);
        std::unordered_map<std::string, sluice::stats::TopicDelta> batch;
        batch["a/b"] = {1, 10, 0};
        batch["simulate/x"] = {2, 20, 0};
        batch["c"] = {3, 30, 0};
        h.add_topics("p", batch, 1);
        h.tick(0, 1);
        return h;
    }();
    if (const auto segs = sluice::stats::stats_path_segments(text)) {
        for (const auto& s : *segs) {
            (void)hub.topic_json(s);
        }
        if (segs->size() >= 2) {
            (void)hub.task_json((*segs)[0], (*segs)[1]);
        }
    }
    if (const auto q = text.find("since="); q != std::string_view::npos) {
        (void)sluice::stats::parse_since(text.substr(q + 6));
    }
    return 0;
}
