// Writes records to PostgreSQL (and TimescaleDB) with libpq: one transaction
// per batch, rows grouped by target table, each group written with
// COPY ... FROM STDIN, or with multi-row INSERT ... ON CONFLICT DO NOTHING
// when a key is configured (a retried batch then adds no duplicates). The
// cursor moves only after COMMIT succeeded.
//
// A row the server refuses for its data (SQLSTATE class 22 or 23: a value
// of the wrong type, a constraint) is searched out inside the transaction:
// each group is written in a savepoint, and a refused write is rolled back
// to it and split, following COPY's "line N" where the server gives it,
// until each refused row stands alone; those rows go to dead letters with
// the server's message and the rest of the batch is committed. Anything
// else (the connection, permissions, a missing table that cannot be made)
// rolls the whole batch back; the runner retries it after its back-off.

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/component.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/url.hpp"
#include "sinks/postgresql/pg_connection.hpp"
#include "sinks/postgresql/pg_rows.hpp"
#include "text/template.hpp"

namespace sluice::components {
namespace {

using namespace sluice::postgresql;

Template template_option(const Options& o, std::string_view name) {
    std::string error;
    auto t = Template::parse(o.str(std::string(name)), &error);
    if (!t) {
        throw ConfigError(fmt::format("option '{}': {}", name, error));
    }
    return std::move(*t);
}

Layout layout_option(const Options& o) {
    std::string error;
    auto l = make_layout(o.list_or_empty("columns"), o.list_or_empty("key"), &error);
    if (!l) {
        throw ConfigError(error);
    }
    return std::move(*l);
}

// The table a record goes to. A schema name PostgreSQL reserves ("pg_"
// names; "pg_temp" would even be the session's temporary schema, whose
// tables vanish with the connection) is written as "x_pg_...".
sql::Target target_for(const Record& r, const Template& schema, const Template& table) {
    sql::Target t = sql::target_for(r, schema, table, "public", kMaxIdentifier);
    if (t.schema.starts_with("pg_")) {
        t.schema = sql::sanitise_identifier("x_" + t.schema, kMaxIdentifier);
    }
    return t;
}

std::string describe(const Outcome& out) {
    if (out.sqlstate.empty()) {
        return out.message;
    }
    return fmt::format("{} (SQLSTATE {})", out.message, out.sqlstate);
}

class PostgresqlSink final : public Sink {
public:
    explicit PostgresqlSink(const Options& o)
        : settings_(connection_settings_from(o)),
          schema_tmpl_(template_option(o, "schema")),
          table_tmpl_(template_option(o, "table")),
          ddl_tmpl_(o.str_or("ddl", "")),
          layout_(layout_option(o)) {
        if (!ddl_tmpl_.empty() && ddl_tmpl_.find("{table}") == std::string::npos) {
            throw ConfigError("ddl must contain {table} (and usually {schema})");
        }
    }

    void open(SinkContext& ctx) override {
        name_ = ctx.name;
        metrics_ = ctx.metrics;
        // Connected from the start so /ready knows; a failure is retried by
        // the runner like a failed send.
        if (std::string err = ensure_connected(); !err.empty()) {
            throw std::runtime_error(err);
        }
    }

    SendResult send(std::span<const Record> batch) override {
        SendResult result;
        if (std::string err = ensure_connected(); !err.empty()) {
            result.error = std::move(err);
            return result;
        }
        // A transaction left open (a send cut short by an exception) is
        // rolled back first: nothing of it was confirmed.
        if (conn_.transaction() != TransactionState::Idle) {
            conn_.exec("ROLLBACK");
            if (conn_.transaction() != TransactionState::Idle) {
                conn_.close();
                return failed("the connection was left in an unknown transaction state; reconnecting");
            }
        }
        // Rows no table can hold are refused before anything is sent.
        std::vector<sql::Target> targets;
        std::vector<std::vector<std::size_t>> groups;
        std::map<std::string, std::size_t> index;
        std::string why;
        // Each row's values are rendered once per send; a refused-row
        // search sends them again from here.
        if (rows_.size() < batch.size()) {
            rows_.resize(batch.size());
        }
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (!row_values(batch[i], layout_, rows_[i], &why)) {
                result.rejected.emplace_back(i, why);
                continue;
            }
            sql::Target t = target_for(batch[i], schema_tmpl_, table_tmpl_);
            auto [it, fresh] = index.try_emplace(t.key(), targets.size());
            if (fresh) {
                targets.push_back(std::move(t));
                groups.emplace_back();
            }
            groups[it->second].push_back(i);
        }
        // Two rounds: the second only after a table or schema vanished
        // mid-batch (dropped behind the sink's back) and was made again.
        std::string err;
        for (int round = 0; round < 2; ++round) {
            for (const auto& t : targets) {
                if (err = ensure_table(t); !err.empty()) {
                    return failed(std::move(err));
                }
            }
            std::vector<std::pair<std::size_t, std::string>> rejected;
            bool missing_table = false;
            err = write_batch(targets, groups, rejected, missing_table);
            if (err.empty()) {
                result.confirmed = batch.size();
                result.rejected.insert(result.rejected.end(), rejected.begin(), rejected.end());
                std::sort(result.rejected.begin(), result.rejected.end());
                if (!rejected.empty()) {
                    log::debug("{}: PostgreSQL refused {} of {} rows", name_, rejected.size(), batch.size());
                }
                return result;
            }
            if (!missing_table) {
                break;
            }
            created_.clear();
        }
        return failed(std::move(err));
    }

    bool healthy(std::string& reason) override {
        if (conn_.connected()) {
            return true;
        }
        reason = last_error_.empty() ? "not connected" : last_error_;
        return false;
    }

    void close() override { conn_.close(); }

private:
    SendResult failed(std::string error) {
        last_error_ = error;
        SendResult r;
        r.error = std::move(error);
        if (!conn_.connected()) {
            conn_.close();
        }
        return r;
    }

    std::string ensure_connected() {
        if (conn_.connected()) {
            return {};
        }
        std::string error;
        if (!conn_.connect(settings_, &error)) {
            last_error_ = error;
            return error;
        }
        if (ever_connected_ && metrics_ != nullptr) {
            metrics_->reconnects->inc();
        }
        ever_connected_ = true;
        created_.clear();
        log::info("{}: connected to PostgreSQL {}.{} at {}{}", name_, conn_.server_version() / 10000,
                  conn_.server_version() % 10000, settings_.where(), conn_.tls_in_use() ? " over TLS" : "");
        last_error_.clear();
        return {};
    }

    // Empty when the table exists (made now, or known from before).
    std::string ensure_table(const sql::Target& t) {
        if (created_.contains(t.key())) {
            return {};
        }
        const std::vector<std::string> ddl = ddl_tmpl_.empty()
                                                 ? default_ddl(layout_, t)
                                                 : std::vector<std::string>{sql::render_ddl(ddl_tmpl_, t)};
        for (const auto& stmt : ddl) {
            Outcome out = conn_.exec(stmt);
            if (!out.ok && action_for_sqlstate(out.sqlstate) == Action::CreateSchema) {
                // Only when missing: CREATE SCHEMA needs a right on the
                // database that writing into an existing schema does not.
                Outcome made = conn_.exec(create_schema(t));
                if (!made.ok) {
                    return fmt::format("creating schema {}: {}", t.schema, describe(made));
                }
                out = conn_.exec(stmt);
            }
            if (!out.ok) {
                return fmt::format("creating table {}: {}", t.key(), describe(out));
            }
        }
        log::info("{}: table {} is ready", name_, t.key());
        created_.insert(t.key());
        return {};
    }

    // One transaction for the whole batch. Empty once COMMIT answered
    // "COMMIT"; otherwise rolled back, with `missing_table` set when a table
    // or schema was missing.
    std::string write_batch(const std::vector<sql::Target>& targets,
                            const std::vector<std::vector<std::size_t>>& groups,
                            std::vector<std::pair<std::size_t, std::string>>& rejected, bool& missing_table) {
        Outcome begin = conn_.exec("BEGIN");
        if (!begin.ok) {
            return describe(begin);
        }
        written_ = 0;
        for (std::size_t g = 0; g < groups.size(); ++g) {
            const sql::Target& t = targets[g];
            auto write = [&](std::span<const std::size_t> rows) {
                return write_rows(t, rows, missing_table);
            };
            std::string err = write_isolating(groups[g], write, rejected);
            if (!err.empty()) {
                conn_.exec("ROLLBACK");
                return fmt::format("writing to {}: {}", t.key(), err);
            }
        }
        return commit();
    }

    // COMMIT, checked: an aborted transaction also "commits", answering
    // ROLLBACK, and that must never confirm a batch.
    std::string commit() {
        if (conn_.transaction() != TransactionState::InTransaction) {
            conn_.exec("ROLLBACK");
            return "the transaction was aborted before COMMIT; the batch is sent again";
        }
        Outcome commit = conn_.exec("COMMIT");
        if (!commit.ok) {
            // Lost on the way back: the server may have committed. The batch
            // is sent again (at least once).
            return fmt::format("COMMIT: {}", describe(commit));
        }
        if (commit.command != "COMMIT") {
            return fmt::format("COMMIT answered {}; the batch is sent again", commit.command);
        }
        return {};
    }

    // Ends a savepoint's attempt: RELEASE after success; after a refusal
    // ROLLBACK TO, then RELEASE too, so refused attempts do not pile up as
    // nested subtransactions.
    bool end_savepoint(bool rolled_back, std::string* error) {
        if (rolled_back) {
            Outcome back = conn_.exec("ROLLBACK TO SAVEPOINT sluice_rows");
            if (!back.ok) {
                *error = describe(back);
                return false;
            }
        }
        Outcome release = conn_.exec("RELEASE SAVEPOINT sluice_rows");
        if (!release.ok) {
            *error = describe(release);
            return false;
        }
        return true;
    }

    // Each written subtransaction keeps a lock until the top transaction
    // ends; a batch with many refused rows would pile them up. Past this
    // many, what is written so far is committed and a new transaction goes
    // on (only duplicates, never loss, if the process dies in between).
    static constexpr std::size_t kWritesPerTransaction = 256;

    Attempt write_rows(const sql::Target& t, std::span<const std::size_t> rows, bool& missing_table) {
        Attempt a;
        Outcome sp = conn_.exec("SAVEPOINT sluice_rows");
        if (!sp.ok) {
            a.kind = Attempt::Failed;
            a.message = describe(sp);
            return a;
        }
        Outcome out;
        std::size_t first_row = 0;   // of the statement that failed
        std::size_t statement_rows = rows.size();
        if (layout_.key.empty()) {
            data_.clear();
            for (std::size_t i : rows) {
                append_copy_row(data_, rows_[i]);
            }
            out = conn_.copy_in(copy_statement(layout_, t), data_);
        } else {
            const std::size_t per = insert_rows_per_statement(layout_);
            for (std::size_t at = 0; at < rows.size() && out.ok; at += per) {
                const std::size_t n = std::min(per, rows.size() - at);
                params_.clear();
                for (std::size_t k = 0; k < n; ++k) {
                    const auto& values = rows_[rows[at + k]];
                    params_.insert(params_.end(), values.begin(), values.end());
                }
                out = conn_.exec_params(insert_statement_for(t, n), params_);
                first_row = at;
                statement_rows = n;
            }
        }
        std::string error;
        if (out.ok) {
            if (!end_savepoint(false, &error)) {
                a.kind = Attempt::Failed;
                a.message = std::move(error);
            } else if (++written_ >= kWritesPerTransaction) {
                written_ = 0;
                if (std::string err = commit(); !err.empty()) {
                    a.kind = Attempt::Failed;
                    a.message = std::move(err);
                } else if (Outcome begin = conn_.exec("BEGIN"); !begin.ok) {
                    a.kind = Attempt::Failed;
                    a.message = describe(begin);
                }
            }
            return a;
        }
        const Action action = action_for_sqlstate(out.sqlstate);
        if (action == Action::Reject) {
            if (!end_savepoint(true, &error)) {
                a.kind = Attempt::Failed;
                a.message = std::move(error);
                return a;
            }
            a.kind = Attempt::Refused;
            a.message = fmt::format("PostgreSQL refused the row: {}", describe(out));
            if (layout_.key.empty()) {
                if (const std::size_t line = copy_line(out.context); line >= 1 && line <= rows.size()) {
                    a.from = line - 1;
                    a.to = line;
                }
            } else {
                a.from = first_row;
                a.to = first_row + statement_rows;
            }
            return a;
        }
        if (action == Action::CreateTable || action == Action::CreateSchema) {
            missing_table = true;
        }
        a.kind = Attempt::Failed;
        a.message = describe(out);
        return a;
    }

    // The INSERT text for n rows into t, cached for the common full size.
    const std::string& insert_statement_for(const sql::Target& t, std::size_t n) {
        const std::string key = t.key();
        if (insert_key_ != key || insert_rows_ != n) {
            insert_ = insert_statement(layout_, t, n);
            insert_key_ = key;
            insert_rows_ = n;
        }
        return insert_;
    }

    ConnectionSettings settings_;
    Template schema_tmpl_;
    Template table_tmpl_;
    std::string ddl_tmpl_;
    Layout layout_;
    Connection conn_;
    std::string name_ = "postgresql";
    ComponentMetrics* metrics_ = nullptr;
    std::set<std::string> created_;
    std::string last_error_;
    bool ever_connected_ = false;
    // Reused between sends.
    std::vector<std::vector<std::optional<std::string>>> rows_;  // per batch row, reused
    std::vector<std::optional<std::string>> params_;
    std::string data_;
    std::string insert_;
    std::string insert_key_;
    std::size_t insert_rows_ = 0;
    std::size_t written_ = 0;  // subtransactions written in the current transaction
};

void postgresql_from_url(const Url& url, RawTable& out) {
    if (url.host.empty()) {
        throw ConfigError("a postgresql URL needs a host: postgres://[user[:password]@]host[:port]/database");
    }
    out.push_back(text_entry("host", url.host));
    out.push_back(text_entry("port", std::to_string(url.port != 0 ? url.port : 5432)));
    if (!url.user.empty()) {
        out.push_back(text_entry("user", url.user));
    }
    if (!url.password.empty()) {
        out.push_back(text_entry("password", url.password));
    }
    if (url.path.size() > 1) {
        out.push_back(text_entry("database", url.path.substr(1)));
    }
    for (const auto& [key, value] : url.query) {
        out.push_back(text_entry(key, value));
    }
}

bool probe_postgresql(const Options& o, std::string& detail) {
    const ConnectionSettings s = connection_settings_from(o);
    Connection c;
    if (!c.connect(s, &detail)) {
        return false;
    }
    detail = fmt::format("connected to PostgreSQL {}.{} at {}{}", c.server_version() / 10000,
                         c.server_version() % 10000, s.where(), c.tls_in_use() ? " over TLS" : "");
    return true;
}

}  // namespace

const Descriptor& sink_postgresql() {
    static const Descriptor d{
        .kind = Kind::Sink,
        .name = "postgresql",
        .summary = "Writes records to PostgreSQL (or TimescaleDB) tables with COPY, one transaction per batch",
        .delivery = Delivery::AtLeastOnce,
        .loss_window = "The cursor moves only after COMMIT: a crash or a lost connection before it rolls the batch "
                       "back and it is sent again; a connection lost during COMMIT itself can repeat a batch "
                       "(duplicates possible, loss not; with `key` set the repeat adds nothing).",
        .options = concat_specs({
            {
                {.name = "host", .type = OptionType::String, .default_value = "127.0.0.1",
                 .doc = "Server host name or address, or a Unix socket directory (\"/run/postgresql\")",
                 .min = 1, .max = 253},
                {.name = "port", .type = OptionType::Int, .default_value = "5432", .doc = "Server port",
                 .min = 1, .max = 65535},
                {.name = "database", .type = OptionType::String, .default_value = "sluice", .doc = "Database name",
                 .min = 1, .max = 63},
                {.name = "user", .type = OptionType::String, .default_value = "sluice", .doc = "Role to connect as",
                 .min = 1, .max = 63},
                {.name = "password", .type = OptionType::Secret,
                 .doc = "Password (empty: none, or libpq's ~/.pgpass)", .max = 4096},
                {.name = "tls", .type = OptionType::Bool, .default_value = "false",
                 .doc = "Connect over TLS, verifying the server's certificate and name (sslmode=verify-full; "
                        "verify_hostname = false: verify-ca; insecure_skip_verify = true: require)"},
            },
            tls_option_specs(),
            {
                {.name = "connect_timeout", .type = OptionType::Duration, .default_value = "5s",
                 .doc = "Connection (and TLS handshake) time limit; libpq counts whole seconds, at least 2",
                 .min = 0.001, .max = 600},
                {.name = "timeout", .type = OptionType::Duration, .default_value = "30s",
                 .doc = "Time limit for each statement (statement_timeout) and for unacknowledged data on the "
                        "connection (tcp_user_timeout); past it the batch is rolled back and retried",
                 .min = 0.001, .max = 3600},
                {.name = "schema", .type = OptionType::String, .default_value = "public",
                 .doc = "Schema template ({tag or field name}, {measurement}); \"public\" when the record lacks a "
                        "name. Created when missing.",
                 .min = 1, .max = 255},
                {.name = "table", .type = OptionType::String, .default_value = "{measurement}",
                 .doc = "Table template ({tag or field name}, {measurement}); the measurement, else \"readings\", "
                        "when the record lacks a name. Names are lower-cased, cut to 63 bytes, and characters "
                        "outside [a-z0-9_] become '_'.",
                 .min = 1, .max = 255},
                {.name = "columns", .type = OptionType::List, .default_value = "",
                 .doc = "Tags or fields stored in typed columns instead of the tags/fields JSON: "
                        "[\"temperature=double precision\", \"node=text\"]. A record without one stores NULL.",
                 .max = 1000},
                {.name = "key", .type = OptionType::List, .default_value = "",
                 .doc = "Primary key of new tables, from \"ts\" and the columns: [\"ts\", \"node\"]. Set, rows are "
                        "written with INSERT ... ON CONFLICT DO NOTHING instead of COPY, so a batch sent again adds "
                        "no duplicates.",
                 .max = 32},
                {.name = "ddl", .type = OptionType::String,
                 .doc = "SQL run to create each new table instead of the default, with {schema} and {table} "
                        "placeholders; several statements may be separated by ';' (e.g. a TimescaleDB "
                        "create_hypertable(..., if_not_exists => TRUE)). The default: ts timestamptz NOT NULL, "
                        "tags jsonb, fields jsonb, the typed columns, the key, and an index on ts.",
                 .max = 65536},
            },
        }),
        .url_schemes = {"postgres", "postgresql"},
        .from_url = postgresql_from_url,
        .url_example = "postgres://sluice@db:5432/plant?table=readings",
        .make_sink = [](const Options& o) { return std::make_unique<PostgresqlSink>(o); },
        .probe = probe_postgresql,
    };
    return d;
}

}  // namespace sluice::components
