#pragma once
// One libpq connection of the PostgreSQL sink: the connection settings from
// the sink's options (with the shared TLS group mapped onto libpq's sslmode,
// sslrootcert, sslcert, sslkey and sslpassword), connecting, and the few
// calls the sink makes, each giving the server's SQLSTATE and message.

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/options.hpp"
#include "core/tls_options.hpp"

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace sluice::postgresql {

struct ConnectionSettings {
    std::string host = "127.0.0.1";  // a name, an address or a Unix socket directory ("/run/postgresql")
    int port = 5432;
    std::string database = "sluice";
    std::string user = "sluice";
    std::string password;  // a secret: never logged
    bool tls = false;
    TlsConfig tls_config;
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds timeout{30000};  // each statement, and unacknowledged sends

    std::string where() const;  // "host:port/database as user" (no secret)
};

// Throws ConfigError for TLS options libpq cannot honour (ca_path; a
// server_name with a host that is not an address).
ConnectionSettings connection_settings_from(const Options& o);

// What a statement ended with.
struct Outcome {
    bool ok = true;
    std::string sqlstate;  // empty: no answer (the connection failed)
    std::string message;   // the server's primary message (and detail), or libpq's
    std::string context;   // PG_DIAG_CONTEXT ("COPY t, line 3, column x: ...")
    std::string command;   // the command tag of a statement that worked ("COMMIT", "ROLLBACK", "COPY 1000")
};

// Where the session's transaction stands (libpq's PQtransactionStatus).
enum class TransactionState { Idle, InTransaction, Failed, Other };

class Connection {
public:
    Connection() = default;
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Connects; false with `error` (libpq's words, prefixed with where()).
    bool connect(const ConnectionSettings& s, std::string* error);
    bool connected() const;
    void close();

    // A statement (or several, separated by ';') without parameters.
    Outcome exec(const std::string& sql);
    // One statement with text parameters (nullopt: NULL).
    Outcome exec_params(const std::string& sql, std::span<const std::optional<std::string>> params);
    // COPY ... FROM STDIN with `data` in COPY's text format.
    Outcome copy_in(const std::string& statement, std::string_view data);

    TransactionState transaction() const;
    int server_version() const;  // e.g. 150018
    bool tls_in_use() const;

private:
    Outcome finish(PGresult* res, bool copy);
    void drain();
    Outcome lost(std::string_view what);

    PGconn* conn_ = nullptr;
    std::string where_;
};

}  // namespace sluice::postgresql
