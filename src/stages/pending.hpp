#pragma once
// Records a stage holds between batches (a join's unmatched records, a
// collect stage's partial batch), mirrored into the stage's durable state:
// each held record is one state row written in the same transaction as the
// batch that brought it, and erased in the transaction of the batch that
// released it. After a crash the stage reloads exactly the records it held
// at the last commit, so none is lost and none is emitted twice.
// Needs sluice_buffer (the binary record encoding).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "buffer/buffer.hpp"
#include "core/component.hpp"
#include "core/log.hpp"

namespace sluice::stages {

class PendingStore {
public:
    // Loads the held records in the order they were added: fn(id, tag,
    // record). `tag` is what add() was given (e.g. "L" or "R").
    void load(StageContext& ctx, const std::function<void(std::uint64_t id, std::string_view tag, Record&& r)>& fn) {
        if (!ctx.load_state) {
            return;
        }
        std::size_t bad = 0;
        ctx.load_state([&](std::string_view key, std::string_view value) {
            std::uint64_t id = 0;
            for (char c : key) {
                const int d = c >= '0' && c <= '9' ? c - '0' : (c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1);
                if (d < 0) {
                    ++bad;
                    return;
                }
                id = id * 16 + static_cast<std::uint64_t>(d);
            }
            const auto nl = value.find('\n');
            Record r;
            if (key.size() != 16 || nl == std::string_view::npos || !decode_record(value.substr(nl + 1), r)) {
                ++bad;
                return;
            }
            next_ = std::max(next_, id + 1);
            fn(id, value.substr(0, nl), std::move(r));
        });
        if (bad != 0) {
            // A damaged row must not keep the pipeline from starting.
            log::warn("{}: {} stored waiting records could not be read and were skipped", ctx.name, bad);
        }
    }

    std::uint64_t add(StageBatch& b, std::string_view tag, const Record& r) {
        const std::uint64_t id = next_++;
        StateChange c;
        c.key = key(id);
        c.value.reserve(tag.size() + 1 + 64);
        c.value.append(tag);
        c.value += '\n';
        encode_record(r, c.value);
        b.state.push_back(std::move(c));
        return id;
    }

    void remove(StageBatch& b, std::uint64_t id) {
        StateChange c;
        c.key = key(id);
        c.erase = true;
        b.state.push_back(std::move(c));
    }

private:
    static std::string key(std::uint64_t id) { return fmt::format("{:016x}", id); }

    std::uint64_t next_ = 1;
};

}  // namespace sluice::stages
