// Writes records to CrateDB over its HTTP endpoint (POST /_sql): one bulk
// INSERT per target table per batch, tables created on first use. The
// runtime owns the cursor and retries; this sink only reports what CrateDB
// accepted, refused (dead letters) or could not take right now (retry).

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/url.hpp"
#include "net/http_endpoint.hpp"
#include "sinks/cratedb/cratedb_protocol.hpp"

namespace sluice::components {
namespace {

using namespace sluice::cratedb;

void cratedb_from_url(const Url& url, RawTable& out) {
    if (url.host.empty()) {
        throw ConfigError("a cratedb URL needs a host: crate://host[:port]/?table=...");
    }
    out.push_back(text_entry("host", url.host));
    out.push_back(text_entry("port", std::to_string(url.port != 0 ? url.port : 4200)));
    out.push_back(text_entry("tls", url.scheme == "crates" ? "true" : "false"));
    if (!url.user.empty()) {
        out.push_back(text_entry("user", url.user));
    }
    if (!url.password.empty()) {
        out.push_back(text_entry("password", url.password));
    }
    if (url.path.size() > 1) {
        throw ConfigError("a cratedb URL takes no path; use ?schema=...&table=...");
    }
    for (const auto& [key, value] : url.query) {
        out.push_back(text_entry(key, value));
    }
}

Template naming_option(const Options& o, std::string_view name) {
    std::string error;
    bool used_kind = false;
    auto t = naming_template(o.str(std::string(name)), &error, &used_kind);
    if (!t) {
        throw ConfigError(fmt::format("option '{}': {}", name, error));
    }
    if (used_kind) {
        log::warn("cratedb: '{{kind}}' in option '{}' is deprecated and will be removed; write '{{measurement}}'",
                  name);
    }
    return std::move(*t);
}

class CrateDbSink final : public Sink {
public:
    explicit CrateDbSink(const Options& o)
        : schema_tmpl_(naming_option(o, "schema")),
          table_tmpl_(naming_option(o, "table")),
          ddl_tmpl_(o.str_or("ddl", "")),
          endpoint_(o, "CrateDB") {
        if (ddl_tmpl_.empty()) {
            ddl_tmpl_ = std::string(kDefaultDdl);
        } else if (ddl_tmpl_.find("{table}") == std::string::npos) {
            throw ConfigError("ddl must contain {table} (and usually {schema})");
        }
    }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        endpoint_.open(name_);
    }

    SendResult send(std::span<const Record> batch) override {
        // Groups in order of first appearance, so a failure in a later group
        // still lets the earlier prefix of the batch be confirmed.
        std::vector<Target> targets;
        std::vector<std::vector<std::size_t>> groups;
        std::map<std::string, std::size_t> index;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            Target t = target_for(batch[i], schema_tmpl_, table_tmpl_);
            auto [it, fresh] = index.try_emplace(t.key(), targets.size());
            if (fresh) {
                targets.push_back(std::move(t));
                groups.emplace_back();
            }
            groups[it->second].push_back(i);
        }

        std::vector<bool> done(batch.size(), false);
        std::vector<std::pair<std::size_t, std::string>> rejected;
        std::string error;
        for (std::size_t g = 0; g < groups.size() && error.empty(); ++g) {
            error = send_group(targets[g], groups[g], batch, done, rejected);
        }

        SendResult result;
        result.confirmed = batch.size();
        if (!error.empty()) {
            result.confirmed = 0;
            while (result.confirmed < batch.size() && done[result.confirmed]) {
                ++result.confirmed;
            }
            result.error = std::move(error);
        }
        for (auto& r : rejected) {
            if (r.first < result.confirmed) {
                result.rejected.push_back(std::move(r));
            }
        }
        std::sort(result.rejected.begin(), result.rejected.end());
        return result;
    }

    bool healthy(std::string& reason) override { return endpoint_.healthy("/", reason); }

    void close() override { endpoint_.close(); }

private:
    net::HttpHeaders headers() const {
        net::HttpHeaders h = endpoint_.headers();
        h.emplace_back("Content-Type", "application/json");
        h.emplace_back("Accept", "application/json");
        return h;
    }

    struct Answer {
        std::optional<net::HttpClientResponse> response;
        std::string transport_error;
    };

    Answer post(const std::string& body) {
        Answer a;
        a.response = endpoint_.request("POST", "/_sql", headers(), body, &a.transport_error);
        return a;
    }

    static std::string describe(const net::HttpClientResponse& r) {
        if (auto e = parse_error(r.body)) {
            return fmt::format("CrateDB answered HTTP {}: {} (code {})", r.status, e->message, e->code);
        }
        return fmt::format("CrateDB answered HTTP {}", r.status);
    }

    // Empty on success; otherwise why the table could not be made.
    std::string ensure_table(const Target& t) {
        if (created_.contains(t.key())) {
            return {};
        }
        const std::string ddl = render_ddl(ddl_tmpl_, t);
        Answer a = post(stmt_body(ddl));
        if (!a.response) {
            return a.transport_error;
        }
        if (a.response->status / 100 != 2) {
            auto e = parse_error(a.response->body);
            if (!(e && action_for_code(e->code) == Action::AlreadyExists)) {
                return fmt::format("creating {}: {}", t.key(), describe(*a.response));
            }
        }
        log::info("{}: table {} is ready", name_, t.key());
        created_.insert(t.key());
        return {};
    }

    std::string send_group(const Target& t, const std::vector<std::size_t>& rows, std::span<const Record> batch,
                           std::vector<bool>& done, std::vector<std::pair<std::size_t, std::string>>& rejected) {
        std::vector<const Record*> ptrs;
        ptrs.reserve(rows.size());
        for (std::size_t i : rows) {
            ptrs.push_back(&batch[i]);
        }
        const std::string body = bulk_body(t, ptrs);
        // Two rounds: the second only after CrateDB said the table is gone
        // (dropped behind our back) and it was created again.
        for (int round = 0; round < 2; ++round) {
            if (std::string err = ensure_table(t); !err.empty()) {
                return err;
            }
            Answer a = post(body);
            if (!a.response) {
                return a.transport_error;
            }
            const auto& resp = *a.response;
            if (resp.status / 100 == 2) {
                std::string perr;
                auto results = parse_bulk_results(resp.body, rows.size(), &perr);
                if (!results) {
                    return fmt::format("CrateDB's answer for {} could not be read: {}", t.key(), perr);
                }
                std::size_t refused = 0;
                for (std::size_t k = 0; k < rows.size(); ++k) {
                    done[rows[k]] = true;
                    if (!(*results)[k].ok) {
                        rejected.emplace_back(rows[k], (*results)[k].message);
                        ++refused;
                    }
                }
                if (refused > 0) {
                    log::debug("{}: CrateDB refused {} of {} rows for {}", name_, refused, rows.size(), t.key());
                }
                return {};
            }
            auto e = parse_error(resp.body);
            const Action action = e ? action_for_code(e->code) : Action::Retry;
            if (action == Action::CreateTable && round == 0) {
                created_.erase(t.key());
                continue;
            }
            if (action == Action::Reject && resp.status / 100 == 4) {
                for (std::size_t i : rows) {
                    done[i] = true;
                    rejected.emplace_back(i, fmt::format("CrateDB refused the rows: {} (code {})", e->message, e->code));
                }
                return {};
            }
            return fmt::format("{} for {}", describe(resp), t.key());
        }
        return fmt::format("table {} vanished again right after it was created", t.key());
    }

    Template schema_tmpl_;
    Template table_tmpl_;
    std::string ddl_tmpl_;
    net::HttpEndpoint endpoint_;
    std::string name_ = "cratedb";
    std::set<std::string> created_;
};

}  // namespace

const Descriptor& sink_cratedb() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "cratedb",
        .summary = "Bulk-inserts records into CrateDB tables over HTTP(S), creating tables on first use",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "The cursor moves only past rows CrateDB answered for: after an error part-way through a "
                       "batch or a crash before the cursor update, rows are sent again (duplicates possible, loss "
                       "not).",
        .options = net::http_sink_options(
            {
                {.name = "host", .type = OptionType::String, .default_value = "127.0.0.1",
                 .doc = "CrateDB host name or address", .min = 1, .max = 253},
                {.name = "port", .type = OptionType::Int, .default_value = "4200", .doc = "CrateDB HTTP port",
                 .min = 1, .max = 65535},
                {.name = "tls", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Use HTTPS (crates:// URLs turn this on)"},
                {.name = "schema", .type = OptionType::String, .default_value = "{realm}_{network}",
                 .doc = "Schema template ({tag or field name}, {measurement}); \"doc\" when the record lacks a name",
                 .min = 1, .max = 255},
                {.name = "table", .type = OptionType::String, .default_value = "{gateway}_{node}_{measurement}",
                 .doc = "Table template ({tag or field name}, {measurement}); the measurement, else \"readings\", "
                        "when the record lacks a name",
                 .min = 1, .max = 255},
                {.name = "ddl", .type = OptionType::String,
                 .doc = "CREATE TABLE statement for new tables, with {schema} and {table} placeholders "
                        "(default: ts/tags/fields partitioned by month)",
                 .max = 65536},
            },
            {
                {.name = "timeout", .type = OptionType::Duration, .default_value = "30s",
                 .doc = "Time limit for CrateDB's answer; past it the batch is retried", .min = 0.001, .max = 3600},
                {.name = "gzip", .type = OptionType::Bool, .default_value = "false",
                 .doc = "gzip request bodies of 1 KiB or more"},
            }),
        .url_schemes = {"crate", "crates"},
        .from_url = cratedb_from_url,
        .url_example = "crate://host:4200/?table=readings",
        .make_sink = [](const Options& o) { return std::make_unique<CrateDbSink>(o); },
    };
    return d;
}

}  // namespace sluice::components
