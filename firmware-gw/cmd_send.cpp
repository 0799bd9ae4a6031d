// `sluice send [--pipeline P] [--key K] VALUE`: one frame (or, with VALUE
// "-", standard input's lines as one NDJSON batch) into a running pipeline
// through its `http` source (POST /api/send/<pipeline>), with the token.

#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>

#include <fmt/format.h>

#include "core/url.hpp"

#include "net/http_server.hpp"
#include "remote_commands.hpp"

namespace sluice::cli {

namespace {

struct SendArgs {
    ApiArgs api;
    std::string pipeline;
    std::string source;
    std::string key;
    std::string value;
};

int run_send(const SendArgs& a) {
    auto opened = open_api_client(a.api);
    if (!opened) {
        return kRemoteRefused;
    }
    ApiClient& client = *opened;
    std::string error;
    std::string path = "/api/send";
    if (!a.pipeline.empty()) {
        path += "/" + percent_encode(a.pipeline);
        if (!a.source.empty()) {
            path += "/" + percent_encode(a.source);
        }
    }
    if (!a.key.empty()) {
        path += "?key=" + percent_encode(a.key);
    }
    // One request; 0 with the committed frames added to `total`, else the exit status.
    long long total = 0;
    auto post = [&](const std::string& body, std::string_view content_type) -> int {
        auto resp = client.request("POST", path, body, content_type, &error);
        if (!resp) {
            std::fprintf(stderr, "%s\n", error.c_str());
            return kRemoteUnreachable;
        }
        if (resp->status == 200) {
            auto json = parse_json(resp->body, nullptr);
            total += json ? static_cast<long long>(json_at(*json, {"frames"}).value_or(0)) : 0;
            return kRemoteOk;
        }
        std::string message = resp->body;
        if (auto json = parse_json(resp->body, nullptr)) {
            if (const auto* e = json->get("error"); e && e->string()) {
                message = *e->string();
            }
        }
        net::HttpClientResponse shown = *resp;
        shown.body = message;
        if (total > 0) {
            std::fprintf(stderr, "%lld frame(s) were committed before this failure\n", total);
        }
        std::fprintf(stderr, "%s\n", describe_failure(shown).c_str());
        return resp->status >= 400 && resp->status < 500 ? kRemoteRefused : kRemoteUnreachable;
    };
    int rc = kRemoteOk;
    if (a.value == "-") {
        // Standard input may be long or endless (`producer | sluice send -`):
        // whole lines in batches well under the gateway's 1 MiB body limit.
        constexpr std::size_t kBatchBytes = 256 * 1024;
        std::string batch;
        std::string line;
        while (rc == kRemoteOk && std::getline(std::cin, line)) {
            batch += line;
            batch += '\n';
            if (batch.size() >= kBatchBytes) {
                rc = post(batch, "application/x-ndjson");
                batch.clear();
            }
        }
        if (rc == kRemoteOk && batch.find_first_not_of("\r\n") != std::string::npos) {
            rc = post(batch, "application/x-ndjson");
        }
    } else {
        rc = post(a.value, "application/octet-stream");
    }
    if (rc == kRemoteOk) {
        std::printf("committed %lld frame(s)\n", total);
    }
    return rc;
}

}  // namespace

void add_send_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<SendArgs>();
    auto* cmd = app.add_subcommand("send",
                                   "Send one frame (or stdin's lines, with VALUE \"-\") into a running pipeline's "
                                   "`http` source; exit 0 once committed");
    add_api_args(cmd, args->api);
    cmd->add_option("--pipeline,-p", args->pipeline,
                    "The pipeline (default: the gateway's only one with an `http` source)");
    cmd->add_option("--source", args->source, "The `http` source's id, when the pipeline has more than one");
    cmd->add_option("--key,-k", args->key, "The frame's origin (its topic); default: the source's `origin` option");
    cmd->add_option("VALUE", args->value, "The frame as it would arrive from a device; \"-\": stdin, one per line")
        ->required();
    cmd->callback([args, &exit_code] { exit_code = run_send(*args); });
}

}  // namespace sluice::cli
