// `sluice keys`: the key store of the encrypt and decrypt stages
// (src/keys/key_store.hpp): list the data keys by pseudonym, forget a data
// subject (delete its key: everything encrypted for it becomes unreadable),
// list what was forgotten, rotate the master key, and move keys between
// stores (export, wrapped; import). Works beside a running gateway: its stages notice
// the change before their next batch.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "config/config.hpp"
#include "config/resolve.hpp"
#include "core/log.hpp"
#include "core/record_json.hpp"
#include "keys/key_export.hpp"
#include "keys/key_store.hpp"

namespace sluice {
namespace {

struct KeysArgs {
    std::string action;
    std::string subject;
    std::string data_dir;
    std::string key_store;
    std::string master_key;
    std::string new_master_key;
    std::string transport_key;
    std::string file = "-";
    std::string by;
};

std::string when(std::int64_t ns) {
    std::string out;
    append_rfc3339(out, ns);
    return out;
}

// export: the keys, wrapped by the transport key, to --file (default
// stdout). import: from --file (default stdin) into the store, which is
// made if missing (and then takes the export's pseudonym key).
// Writes `doc` to `path` through "<path>.tmp": made new (never through a
// link or an old file), mode 0600 from the start, synced, renamed. The
// temporary file is removed on any failure.
bool write_private_file(const std::string& path, std::string_view doc) {
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::fprintf(stderr, "cannot create %s: %s%s\n", tmp.c_str(), std::strerror(errno),
                     errno == EEXIST ? " (left by an export that failed? remove it)" : "");
        return false;
    }
    std::size_t off = 0;
    bool ok = true;
    while (ok && off < doc.size()) {
        const ssize_t n = ::write(fd, doc.data() + off, doc.size() - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ok = n > 0;
        off += ok ? static_cast<std::size_t>(n) : 0;
    }
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ok = ::close(fd) == 0 && ok;
    if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
        ok = false;
    }
    if (!ok) {
        std::fprintf(stderr, "cannot write %s: %s\n", path.c_str(), std::strerror(saved != 0 ? saved : errno));
        ::unlink(tmp.c_str());
        return false;
    }
    // The rename itself survives a power cut once the directory is synced.
    const std::string dir = std::filesystem::path(path).parent_path().empty()
                                ? std::string(".")
                                : std::filesystem::path(path).parent_path().string();
    if (const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
        (void)::fsync(d);
        ::close(d);
    }
    return true;
}

// At most `limit` + 1 bytes of `in`: enough to tell that it is too large.
std::string read_bounded(std::istream& in, std::size_t limit) {
    std::string out;
    char buf[65536];
    while (out.size() <= limit && in.read(buf, sizeof buf).gcount() > 0) {
        out.append(buf, static_cast<std::size_t>(in.gcount()));
    }
    return out;
}

// export: the keys, wrapped by the transport key, to --file (default
// stdout). import: from --file (default stdin) into the store, which is
// made if missing (and then takes the export's pseudonym key).
int run_transfer(const KeysArgs& a, const std::filesystem::path& path, const keys::Key& master) {
    keys::Key transport = master;
    struct Wipe {
        keys::Key& k;
        ~Wipe() { k.fill(0); }
    } wipe{transport};
    if (!a.transport_key.empty()) {
        std::string error;
        auto t = resolve_secret(a.transport_key, &error);
        if (!t) {
            std::fprintf(stderr, "--transport-key: %s\n", error.c_str());
            return 2;
        }
        const auto k = keys::parse_key(*t, error);
        std::fill(t->begin(), t->end(), '\0');
        if (!k) {
            std::fprintf(stderr, "--transport-key: %s\n", error.c_str());
            return 2;
        }
        transport = *k;
    }
    if (a.action == "export") {
        if (!std::filesystem::exists(path)) {
            std::fprintf(stderr, "no key store at %s (--key-store or --data-dir)\n", path.c_str());
            return 2;
        }
        keys::KeyStore store(path, master, /*create=*/false);
        const std::string doc =
            store.export_keys(transport, a.subject.empty() ? std::nullopt : std::optional<std::string_view>(a.subject));
        if (a.file == "-") {
            std::fwrite(doc.data(), 1, doc.size(), stdout);
            return std::fflush(stdout) == 0 ? 0 : 1;
        }
        if (!write_private_file(a.file, doc)) {
            return 1;
        }
        std::fprintf(stderr, "exported the keys of %s to %s, wrapped by the %s key\n", path.c_str(), a.file.c_str(),
                     a.transport_key.empty() ? "master" : "transport");
        return 0;
    }
    std::string doc;
    {
        std::ifstream file_in;
        std::istream* in = &std::cin;
        if (a.file != "-") {
            file_in.open(a.file, std::ios::binary);
            if (!file_in) {
                std::fprintf(stderr, "cannot read %s\n", a.file.c_str());
                return 2;
            }
            in = &file_in;
        }
        doc = read_bounded(*in, keys::kMaxExportBytes);
        if (doc.size() > keys::kMaxExportBytes) {
            std::fprintf(stderr, "%s: larger than any key export\n", a.file.c_str());
            return 2;
        }
    }
    std::string by = a.by;
    if (by.empty()) {
        const char* user = std::getenv("USER");
        by = fmt::format("sluice keys import ({})", user != nullptr ? user : "unknown user");
    }
    const bool made = !std::filesystem::exists(path);
    keys::KeyStore::ImportCounts c;
    try {
        keys::KeyStore store(path, master, /*create=*/true);
        c = store.import_keys(doc, transport, by);
    } catch (...) {
        if (made) {
            // Not left behind with a pseudonym key of its own, which would
            // refuse the next import.
            for (const char* suffix : {"", "-wal", "-shm"}) {
                std::filesystem::remove(path.string() + suffix);
            }
        }
        throw;
    }
    std::printf("imported into %s%s: %zu data keys added, %zu already there, %zu not brought back (forgotten here), "
                "%zu deleted (forgotten where the export came from)%s\n",
                path.c_str(), made ? " (new)" : "", c.added, c.present, c.refused, c.forgotten,
                c.took_pseudonym_key ? "; the store took the export's pseudonym key" : "");
    return 0;
}

int run_keys(const KeysArgs& a) {
    std::string error;
    const auto secret = resolve_secret(a.master_key, &error);
    if (!secret) {
        std::fprintf(stderr, "--master-key: %s\n", error.c_str());
        return 2;
    }
    const std::filesystem::path dir = a.data_dir.empty() ? default_data_dir() : std::filesystem::path(a.data_dir);
    const std::filesystem::path path = a.key_store.empty() ? dir / "keys.db" : std::filesystem::path(a.key_store);
    if (a.action == "export" || a.action == "import") {
        try {
            return run_transfer(a, path, keys::master_key_from(*secret));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 2;
        }
    }
    if (!std::filesystem::exists(path)) {
        std::fprintf(stderr, "no key store at %s (the encrypt stage makes it; --key-store or --data-dir)\n",
                     path.c_str());
        return 2;
    }
    try {
        keys::KeyStore store(path, keys::master_key_from(*secret), /*create=*/false);
        if (a.action == "list") {
            for (const auto& e : store.list()) {
                std::printf("%s  key %s  created %s\n", e.pseudonym.c_str(), e.key_id.c_str(),
                            when(e.created_ns).c_str());
            }
            return 0;
        }
        if (a.action == "rotate") {
            if (a.new_master_key.empty()) {
                std::fprintf(stderr, "rotate: give --new-master-key (\"@/path\" or \"@credential:NAME\")\n");
                return 2;
            }
            const auto next = resolve_secret(a.new_master_key, &error);
            if (!next) {
                std::fprintf(stderr, "--new-master-key: %s\n", error.c_str());
                return 2;
            }
            const std::size_t n = store.rotate(keys::master_key_from(*next));
            std::printf("%zu data keys and the pseudonym key are now wrapped by the new master key; give it to the "
                        "stages' master_key before the gateway starts again\n",
                        n);
            return 0;
        }
        if (a.action == "forgotten") {
            for (const auto& f : store.forgotten()) {
                std::printf("%s  key %s  forgotten %s by %s\n", f.pseudonym.c_str(), f.key_id.c_str(),
                            when(f.forgotten_ns).c_str(), f.by.c_str());
            }
            return 0;
        }
        // forget
        if (a.subject.empty()) {
            std::fprintf(stderr, "forget: give the SUBJECT (the value the encrypt stage's subject template gives)\n");
            return 2;
        }
        std::string by = a.by;
        if (by.empty()) {
            const char* user = std::getenv("USER");
            by = fmt::format("sluice keys ({})", user != nullptr ? user : "unknown user");
        }
        const std::string p = store.pseudonym(a.subject);
        if (!store.forget(a.subject, by)) {
            std::fprintf(stderr, "no data key for that subject (pseudonym %s): nothing to forget\n", p.c_str());
            return 1;
        }
        std::printf("forgot the subject with pseudonym %s: its data key is deleted, and every value encrypted with "
                    "it can no longer be read\n",
                    p.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
}

}  // namespace

void add_keys_command(CLI::App& app, int& status) {
    auto args = std::make_shared<KeysArgs>();
    auto* cmd = app.add_subcommand("keys", "The encrypt stage's key store: list the data keys, forget a data "
                                           "subject (crypto-shredding), list what was forgotten, rotate the "
                                           "master key, export and import keys (wrapped)");
    cmd->add_option("ACTION", args->action,
                    "list, forget SUBJECT, forgotten (the audit trail), rotate (wrap every key with "
                    "--new-master-key; with the gateway stopped), export [SUBJECT] (the keys, wrapped, for another "
                    "store) or import (an export's keys into this store)")
        ->required()
        ->check(CLI::IsMember({"list", "forget", "forgotten", "rotate", "export", "import"}));
    cmd->add_option("SUBJECT", args->subject,
                    "forget: the subject's value (e.g. the driver id); export: only this subject's keys");
    cmd->add_option("--data-dir", args->data_dir, "The gateway's data directory (default: as `run` would use)");
    cmd->add_option("--key-store", args->key_store, "The key store file (default: keys.db in the data directory)");
    cmd->add_option("--master-key", args->master_key,
                    "The master key as the stages' master_key option gives it: \"@/path\" or "
                    "\"@credential:NAME\"")
        ->required();
    cmd->add_option("--new-master-key", args->new_master_key, "rotate: the master key to wrap the keys with");
    cmd->add_option("--by", args->by, "forget, import: who asks, for the audit row (default: the user)");
    cmd->add_option("--transport-key", args->transport_key,
                    "export, import: the key that wraps the exported keys, \"@/path\" or \"@credential:NAME\" "
                    "(default: the master key, when both stores share it)");
    cmd->add_option("--file", args->file, "export: where to write (default: standard output); import: what to read "
                                          "(default: standard input)");
    cmd->callback([args, &status] {
        log::set_level(log::Level::Warn);
        status = run_keys(*args);
    });
}

}  // namespace sluice
