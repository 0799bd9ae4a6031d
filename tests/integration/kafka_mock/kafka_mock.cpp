// sluice_kafka_mock: librdkafka's in-process mock cluster as a program, for
// the integration tests and the benchmark. Prints the bootstrap address as
// the first line of stdout, then reads commands from stdin, one per line:
//   down | up                  all brokers down / up
//   create TOPIC PARTITIONS    create a topic (replication factor 1)
// and answers each with "ok" or "error: ...". Exits when stdin closes or on
// SIGTERM/SIGINT. Usage: sluice_kafka_mock [BROKERS]

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <poll.h>
#include <sstream>
#include <string>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
    const int brokers = argc > 1 ? std::atoi(argv[1]) : 3;
    if (brokers < 1 || brokers > 16) {
        std::fprintf(stderr, "usage: %s [BROKERS 1..16]\n", argv[0]);
        return 2;
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        std::fprintf(stderr, "rd_kafka_new: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (mc == nullptr) {
        std::fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    std::fflush(stdout);

    std::string pending;
    while (g_stop == 0) {
        pollfd pfd{STDIN_FILENO, POLLIN, 0};
        const int rc = ::poll(&pfd, 1, 200);
        if (rc <= 0) {
            continue;  // timeout or EINTR: check g_stop
        }
        char buf[1024];
        const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n <= 0) {
            break;  // stdin closed: the test is gone
        }
        pending.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::istringstream line(pending.substr(0, nl));
            pending.erase(0, nl + 1);
            std::string cmd;
            line >> cmd;
            rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
            if (cmd == "down" || cmd == "up") {
                for (int id = 1; id <= brokers; ++id) {
                    err = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id) : rd_kafka_mock_broker_set_up(mc, id);
                    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                        break;
                    }
                }
            } else if (cmd == "create") {
                std::string topic;
                int partitions = 0;
                line >> topic >> partitions;
                if (topic.empty() || partitions < 1) {
                    std::printf("error: usage: create TOPIC PARTITIONS\n");
                    std::fflush(stdout);
                    continue;
                }
                err = rd_kafka_mock_topic_create(mc, topic.c_str(), partitions, 1);
            } else if (cmd.empty()) {
                continue;
            } else {
                std::printf("error: unknown command %s\n", cmd.c_str());
                std::fflush(stdout);
                continue;
            }
            if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                std::printf("error: %s\n", rd_kafka_err2str(err));
            } else {
                std::printf("ok\n");
            }
            std::fflush(stdout);
        }
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
