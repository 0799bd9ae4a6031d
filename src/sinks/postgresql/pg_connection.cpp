#include "sinks/postgresql/pg_connection.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "core/log.hpp"
#include "text/text_value.hpp"

namespace sluice::postgresql {
namespace {

// COPY data goes to libpq in pieces of this size: libpq copies what it is
// given into its output buffer, so a whole batch at once would be held twice.
constexpr std::size_t kCopyChunk = 256 * 1024;
// How much of the server's message and DETAIL go into a dead letter's
// reason (both may repeat the refused value).
constexpr std::size_t kMessageBytes = 1000;
constexpr std::size_t kDetailBytes = 300;

bool is_address(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string trimmed(const char* text) {
    std::string s = text != nullptr ? text : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// Server notices ("relation ... already exists, skipping") would go to
// stderr by default.
void quiet_notice(void* /*arg*/, const char* message) { log::debug("postgresql: {}", trimmed(message)); }

long whole_seconds_up(std::chrono::milliseconds d) {
    return static_cast<long>((d.count() + 999) / 1000);
}

}  // namespace

std::string ConnectionSettings::where() const {
    if (!host.empty() && host.front() == '/') {
        return fmt::format("{} (socket, port {})/{} as {}", host, port, database, user);
    }
    return fmt::format("{}:{}/{} as {}", host, port, database, user);
}

ConnectionSettings connection_settings_from(const Options& o) {
    ConnectionSettings s;
    s.host = o.str("host");
    s.port = static_cast<int>(o.integer("port"));
    s.database = o.str("database");
    s.user = o.str("user");
    s.password = o.str_or("password", "");
    s.tls = o.boolean("tls");
    s.tls_config = tls_config_from(o);
    s.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration("connect_timeout"));
    s.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration("timeout"));
    if (!s.tls && s.tls_config.any_file()) {
        throw ConfigError("ca_file, ca_path, cert_file and key_file need tls = true");
    }
    if (!s.tls_config.ca_path.empty()) {
        throw ConfigError("libpq reads CA certificates from one file: set ca_file (a PEM bundle) instead of ca_path");
    }
    if (!s.tls_config.server_name.empty() && !is_address(s.host)) {
        throw ConfigError(
            "server_name needs host to be an IP address (libpq then connects to host and verifies server_name); "
            "with a host name, set host to the name the certificate holds");
    }
    return s;
}

Connection::~Connection() { close(); }

void Connection::close() {
    if (conn_ != nullptr) {
        PQfinish(conn_);
        conn_ = nullptr;
    }
}

bool Connection::connected() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }

bool Connection::connect(const ConnectionSettings& s, std::string* error) {
    close();
    where_ = s.where();
    std::vector<std::pair<const char*, std::string>> kv;
    if (!s.tls_config.server_name.empty()) {
        kv.emplace_back("host", s.tls_config.server_name);
        kv.emplace_back("hostaddr", s.host);
    } else {
        kv.emplace_back("host", s.host);
    }
    kv.emplace_back("port", std::to_string(s.port));
    kv.emplace_back("dbname", s.database);
    kv.emplace_back("user", s.user);
    if (!s.password.empty()) {
        kv.emplace_back("password", s.password);
    }
    kv.emplace_back("application_name", "sluice");
    kv.emplace_back("client_encoding", "UTF8");
    kv.emplace_back("connect_timeout", std::to_string(std::max(2L, whole_seconds_up(s.connect_timeout))));
    // A statement that runs past `timeout` is cancelled by the server; a
    // server that stops answering is noticed by TCP within about the same.
    kv.emplace_back("options", fmt::format("-c statement_timeout={}", s.timeout.count()));
    kv.emplace_back("tcp_user_timeout", std::to_string(s.timeout.count()));
    kv.emplace_back("keepalives", "1");
    kv.emplace_back("keepalives_idle", "10");
    kv.emplace_back("keepalives_interval", "5");
    kv.emplace_back("keepalives_count", "3");
    kv.emplace_back("gssencmode", "disable");
    if (!s.tls) {
        kv.emplace_back("sslmode", "disable");
    } else {
        const TlsConfig& t = s.tls_config;
        kv.emplace_back("sslmode", t.insecure_skip_verify ? "require" : t.verify_hostname ? "verify-full" : "verify-ca");
        if (!t.insecure_skip_verify) {
            kv.emplace_back("sslrootcert", t.ca_file.empty() ? std::string(kSystemCaBundle) : t.ca_file);
        }
        if (!t.cert_file.empty()) {
            kv.emplace_back("sslcert", t.cert_file);
            kv.emplace_back("sslkey", t.key_file);
        }
        if (!t.key_password.empty()) {
            kv.emplace_back("sslpassword", t.key_password);
        }
    }
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [k, v] : kv) {
        keys.push_back(k);
        values.push_back(v.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_ = PQconnectdbParams(keys.data(), values.data(), 0);
    if (conn_ == nullptr) {
        *error = fmt::format("PostgreSQL at {}: out of memory", where_);
        return false;
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
        *error = fmt::format("PostgreSQL at {}: {}", where_, trimmed(PQerrorMessage(conn_)));
        close();
        return false;
    }
    PQsetNoticeProcessor(conn_, quiet_notice, nullptr);
    return true;
}

int Connection::server_version() const { return conn_ != nullptr ? PQserverVersion(conn_) : 0; }

bool Connection::tls_in_use() const { return conn_ != nullptr && PQsslInUse(conn_) != 0; }

Outcome Connection::lost(std::string_view what) {
    Outcome o;
    o.ok = false;
    o.message = fmt::format("{} at {}: {}", what, where_,
                            conn_ != nullptr ? trimmed(PQerrorMessage(conn_)) : std::string("not connected"));
    return o;
}

// Reads what a multi-statement string or a COPY left behind. A COPY the
// sink did not start (in a user's `ddl`) is ended: data in is refused,
// data out is read and dropped.
void Connection::drain() {
    while (PGresult* more = PQgetResult(conn_)) {
        const ExecStatusType st = PQresultStatus(more);
        PQclear(more);
        if (st == PGRES_COPY_IN) {
            PQputCopyEnd(conn_, "sluice sends no COPY data here");
        } else if (st == PGRES_COPY_OUT) {
            char* buf = nullptr;
            while (PQgetCopyData(conn_, &buf, 0) > 0) {
                PQfreemem(buf);
            }
        } else if (st == PGRES_COPY_BOTH) {
            break;  // replication only; the caller's next statement fails and reconnects
        }
    }
}

TransactionState Connection::transaction() const {
    if (conn_ == nullptr) {
        return TransactionState::Other;
    }
    switch (PQtransactionStatus(conn_)) {
        case PQTRANS_IDLE: return TransactionState::Idle;
        case PQTRANS_INTRANS: return TransactionState::InTransaction;
        case PQTRANS_INERROR: return TransactionState::Failed;
        default: return TransactionState::Other;
    }
}

Outcome Connection::finish(PGresult* res, bool copy) {
    Outcome o;
    if (res == nullptr) {
        return lost(copy ? "COPY" : "PostgreSQL");
    }
    const ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        o.ok = false;
        const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char* detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        const char* context = PQresultErrorField(res, PG_DIAG_CONTEXT);
        o.sqlstate = state != nullptr ? state : "";
        o.message = excerpt(primary != nullptr ? primary : trimmed(PQresultErrorMessage(res)), kMessageBytes);
        if (detail != nullptr) {
            o.message += fmt::format(" ({})", excerpt(detail, kDetailBytes));
        }
        o.context = context != nullptr ? excerpt(context, kMessageBytes) : "";
        if (o.sqlstate.empty() && !connected()) {
            o.message = fmt::format("{} at {}", o.message, where_);
        }
    }
    if (o.ok) {
        o.command = PQcmdStatus(res);
    }
    PQclear(res);
    drain();
    return o;
}

Outcome Connection::exec(const std::string& sql) {
    if (conn_ == nullptr) {
        return lost("PostgreSQL");
    }
    return finish(PQexec(conn_, sql.c_str()), false);
}

Outcome Connection::exec_params(const std::string& sql, std::span<const std::optional<std::string>> params) {
    if (conn_ == nullptr) {
        return lost("PostgreSQL");
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) {
        values.push_back(p ? p->c_str() : nullptr);
    }
    return finish(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0),
                  false);
}

Outcome Connection::copy_in(const std::string& statement, std::string_view data) {
    if (conn_ == nullptr) {
        return lost("COPY");
    }
    PGresult* start = PQexec(conn_, statement.c_str());
    if (start == nullptr || PQresultStatus(start) != PGRES_COPY_IN) {
        return finish(start, true);
    }
    PQclear(start);
    for (std::size_t at = 0; at < data.size(); at += kCopyChunk) {
        const std::size_t n = std::min(kCopyChunk, data.size() - at);
        if (PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) != 1) {
            return lost("COPY");
        }
    }
    if (PQputCopyEnd(conn_, nullptr) != 1) {
        return lost("COPY");
    }
    return finish(PQgetResult(conn_), true);
}

}  // namespace sluice::postgresql
