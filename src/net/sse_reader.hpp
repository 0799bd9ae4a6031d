#pragma once
// Reads Server-Sent Events from pieces of a streamed body (what
// HttpClient::request_stream hands out): `event:` and `data:` lines (several
// data lines joined with '\n'), a blank line ends an event, lines starting
// with ':' are comments (heartbeats), other fields are ignored. CRLF or LF.
// Linear in the input; an event (or a line) longer than `max_event_bytes` is
// an error. Fuzzed by tests/fuzz/sse_reader.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::net {

class SseReader {
public:
    // Returns false to stop reading.
    using OnEvent = std::function<bool(std::string_view event, std::string_view data)>;

    explicit SseReader(OnEvent on_event, std::size_t max_event_bytes = 4u << 20)
        : on_event_(std::move(on_event)), max_event_bytes_(max_event_bytes) {}

    // False when the callback asked to stop or the stream is malformed
    // (error() says which; empty when the callback stopped).
    bool feed(std::string_view piece) {
        buf_.append(piece);
        std::size_t pos = 0;
        for (;;) {
            const std::size_t nl = buf_.find('\n', pos);
            if (nl == std::string::npos) {
                break;
            }
            std::string_view line(buf_.data() + pos, nl - pos);
            pos = nl + 1;
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            if (line.empty()) {
                if (has_data_ || !event_.empty()) {
                    const bool go_on = on_event_(event_, data_);
                    event_.clear();
                    data_.clear();
                    has_data_ = false;
                    if (!go_on) {
                        buf_.erase(0, pos);
                        return false;
                    }
                }
                continue;
            }
            if (line.front() == ':') {
                continue;
            }
            const std::size_t colon = line.find(':');
            const std::string_view name = line.substr(0, colon);
            std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') {
                value.remove_prefix(1);
            }
            if (name == "data") {
                if (has_data_) {
                    data_ += '\n';
                }
                data_.append(value);
                has_data_ = true;
            } else if (name == "event") {
                event_.assign(value);
            }
            if (data_.size() + event_.size() > max_event_bytes_) {
                error_ = "an event longer than " + std::to_string(max_event_bytes_) + " bytes";
                return false;
            }
        }
        buf_.erase(0, pos);
        if (buf_.size() > max_event_bytes_) {
            error_ = "a line longer than " + std::to_string(max_event_bytes_) + " bytes";
            return false;
        }
        return true;
    }

    const std::string& error() const { return error_; }

private:
    OnEvent on_event_;
    std::size_t max_event_bytes_;
    std::string buf_;
    std::string event_;
    std::string data_;
    bool has_data_ = false;
    std::string error_;
};

}  // namespace sluice::net
