#pragma once
// `sluice tap [PIPELINE[/COMPONENT]] [--limit N] [--format json|text]`: live
// records from a running gateway (GET /api/tap), like `vector tap`.

#include <functional>

#include <CLI/CLI.hpp>

namespace sluice::cli {

// Adds the `tap` command to `app`; returns what runs it once parsed (its exit status).
std::function<int()> add_tap_command(CLI::App& app);

}  // namespace sluice::cli
