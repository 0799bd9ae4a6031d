#pragma once
// Where the `callback` sinks deliver: the handlers an embedding program
// registers through libsluice (sluice::embed::Gateway::on_batch), by the
// sink's name "<pipeline>/<sink id>". The sink looks its handler up for
// every batch, so a program may register, replace or remove one at any
// time; while none is registered the sink's batches wait in the buffer.

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/component.hpp"

namespace sluice {

class CallbackSinks {
public:
    // Called on the sink's thread with each batch; what it answers moves the
    // cursor (SendResult::confirmed) or retries the rest (SendResult::error).
    using Handler = std::function<SendResult(std::span<const Record> batch)>;

    void set(const std::string& name, Handler fn);
    void remove(const std::string& name);
    // Null when none is registered under `name`.
    std::shared_ptr<const Handler> find(const std::string& name) const;

private:
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<const Handler>> handlers_;
};

// The process-wide table.
CallbackSinks& callback_sinks();

}  // namespace sluice
