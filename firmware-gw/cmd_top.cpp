// `sluice top`: rates, lag and buffer per component of a running gateway,
// redrawn every second. On a terminal: the alternate screen, q or Ctrl-C
// leaves and the terminal is restored. Otherwise: one plain block per
// refresh (--iterations N stops after N).

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "remote_commands.hpp"

namespace sluice::cli {

namespace {

struct TopArgs {
    ApiArgs api;
    int iterations = 0;      // 0: until q / Ctrl-C
    double interval = 1.0;   // seconds
};

volatile std::sig_atomic_t g_interrupted = 0;

void on_signal(int) { g_interrupted = 1; }

// Raw keyboard input and the alternate screen while alive; restores both.
class Terminal {
public:
    Terminal() {
        if (tcgetattr(STDIN_FILENO, &saved_) == 0) {
            termios raw = saved_;
            raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            have_saved_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        }
        std::fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen, hide cursor
        std::fflush(stdout);
    }
    ~Terminal() {
        std::fputs("\x1b[?25h\x1b[?1049l", stdout);
        std::fflush(stdout);
        if (have_saved_) {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
        }
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    // Waits up to `seconds` for a key; true if it was q/Q (leave).
    static bool wait_for_quit(double seconds) {
        const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
        while (!g_interrupted) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until -
                                                                                     std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return false;
            }
            pollfd p{STDIN_FILENO, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) > 0) {
                char c = 0;
                if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q' || c == 3)) {
                    return true;
                }
            }
        }
        return true;
    }

private:
    termios saved_{};
    bool have_saved_ = false;
};

std::string block(ApiClient& client, bool* unreachable) {
    std::string why;
    auto stats = fetch_stats(client, &why, unreachable);
    char when[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&now));
    std::string out = fmt::format("sluice top  {}  {}", client.target().url, when);
    if (!stats) {
        return out + "\n" + why + "\n";
    }
    out += fmt::format("  events {}  records {}  buffer {} rows, fill {:.1f} %  end-to-end p99 {}\n",
                       fmt_rate(json_at(*stats, {"events", "rate_1s"})),
                       fmt_rate(json_at(*stats, {"records", "rate_1s"})),
                       static_cast<long long>(json_at(*stats, {"buffer", "rows"}).value_or(0)),
                       json_at(*stats, {"buffer", "fill"}).value_or(0) * 100,
                       fmt_seconds(json_at(*stats, {"latency", "end_to_end", "p99"})));
    out += stats_table(*stats, false);
    return out;
}

int run_top(const TopArgs& a) {
    auto opened = open_api_client(a.api);
    if (!opened) {
        return kRemoteRefused;
    }
    ApiClient& client = *opened;
    std::string error;
    const bool tty = isatty(STDOUT_FILENO) != 0;
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    int exit_code = kRemoteOk;
    std::unique_ptr<Terminal> term;
    if (tty) {
        term = std::make_unique<Terminal>();
    }
    for (int i = 0; a.iterations == 0 || i < a.iterations; ++i) {
        bool unreachable = false;
        const std::string text = block(client, &unreachable);
        if (tty) {
            std::string screen = "\x1b[H\x1b[2J" + text + "\n(q or Ctrl-C to leave)";
            // Raw mode: lines need a carriage return too.
            std::string drawn;
            for (char c : screen) {
                if (c == '\n') {
                    drawn += "\x1b[K\r";
                }
                drawn += c;
            }
            std::fputs(drawn.c_str(), stdout);
        } else {
            std::fputs((text + "\n").c_str(), stdout);
        }
        std::fflush(stdout);
        if (!tty && unreachable && a.iterations == 0) {
            exit_code = kRemoteUnreachable;
            break;
        }
        if (unreachable) {
            exit_code = kRemoteUnreachable;
        }
        if (a.iterations != 0 && i + 1 >= a.iterations) {
            break;
        }
        if (tty ? Terminal::wait_for_quit(a.interval) : false) {
            break;
        }
        if (!tty) {
            const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.interval);
            while (!g_interrupted && std::chrono::steady_clock::now() < until) {
                poll(nullptr, 0, 50);
            }
        }
        if (g_interrupted) {
            break;
        }
    }
    term.reset();
    return exit_code;
}

}  // namespace

void add_top_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<TopArgs>();
    auto* cmd = app.add_subcommand("top",
                                   "Watch a running gateway's rates, lag and buffer per component, refreshed every "
                                   "second (q or Ctrl-C to leave)");
    add_api_args(cmd, args->api);
    cmd->add_option("--iterations,-n", args->iterations, "Stop after N refreshes (default: until q or Ctrl-C)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--interval", args->interval, "Seconds between refreshes")->check(CLI::PositiveNumber);
    cmd->callback([args, &exit_code] { exit_code = run_top(*args); });
}

}  // namespace sluice::cli
