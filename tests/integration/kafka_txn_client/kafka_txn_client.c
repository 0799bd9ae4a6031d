/* sluice_kafka_txn_client: librdkafka's own transactional producer and
 * consumers against tests/integration/kafka_txn_standin.py, driven by
 * tests/integration/test_kafka_txn_standin.py. It shows that the stand-in
 * answers librdkafka as a Kafka broker does where the transactional kafka
 * sink's test relies on it: the last stable offset hides open transactions,
 * commits make records and offset commits visible together, aborted and
 * fenced transactions stay invisible to read_committed consumers.
 *
 *   sluice_kafka_txn_client phase1|phase2|fence <bootstrap>
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *bs;

static rd_kafka_t *mk(rd_kafka_type_t type, const char **kv) {
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", bs, NULL, 0);
    rd_kafka_conf_set(c, "client.id", "txncheck", NULL, 0);
    if (getenv("TXNCHECK_DEBUG"))
        rd_kafka_conf_set(c, "debug", getenv("TXNCHECK_DEBUG"), NULL, 0);
    for (; kv && *kv; kv += 2)
        if (rd_kafka_conf_set(c, kv[0], kv[1], err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(2); }
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk) { fprintf(stderr, "rd_kafka_new: %s\n", err); exit(2); }
    return rk;
}
static void ok(rd_kafka_error_t *e, const char *what) {
    if (e) { fprintf(stderr, "%s: %s\n", what, rd_kafka_error_string(e)); exit(1); }
}
static rd_kafka_t *txn_producer(const char *tid, const char *timeout) {
    const char *kv[] = {"transactional.id", tid, "transaction.timeout.ms", timeout, NULL};
    rd_kafka_t *p = mk(RD_KAFKA_PRODUCER, kv);
    ok(rd_kafka_init_transactions(p, 30000), "init_transactions");
    return p;
}
static void produce_n(rd_kafka_t *p, const char *topic, const char *pfx, int n) {
    char buf[64];
    for (int i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof buf, "%s-%d", pfx, i);
        while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(buf, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)
               == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
    }
    if (rd_kafka_flush(p, 30000)) { fprintf(stderr, "flush timed out\n"); exit(1); }
}
/* Read topic from the beginning to EOF on all partitions; count values with prefix. */
static int count(const char *topic, int nparts, const char *iso, const char *pfx) {
    const char *kv[] = {"group.id", "count", "isolation.level", iso,
                        "enable.partition.eof", "true", "enable.auto.commit", "false", NULL};
    rd_kafka_t *c = mk(RD_KAFKA_CONSUMER, kv);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    for (int i = 0; i < nparts; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int eof[64] = {0}, n = 0, neof = 0;
    time_t deadline = time(NULL) + 20;
    while (neof < nparts && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m) continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!eof[m->partition]++) neof++;
        } else if (m->err) {
            fprintf(stderr, "consume: %s\n", rd_kafka_message_errstr(m)); exit(1);
        } else if ((size_t)m->len >= strlen(pfx) && !memcmp(m->payload, pfx, strlen(pfx))) {
            n++;
        }
        rd_kafka_message_destroy(m);
    }
    if (neof < nparts) { fprintf(stderr, "count: no EOF on all partitions\n"); exit(1); }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return n;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    bs = argv[2];
    if (!strcmp(argv[1], "phase1")) {
        rd_kafka_t *p = txn_producer("t1", "60000");
        ok(rd_kafka_begin_transaction(p), "begin");
        produce_n(p, "readings", "c", 1000);
        printf("open txn: read_committed sees %d c-, read_uncommitted sees %d c-\n",
               count("readings", 4, "read_committed", "c-"),
               count("readings", 4, "read_uncommitted", "c-"));
        rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(offs, "readings", 0);
        tp->offset = 1234;
        tp->metadata = strdup("m");
        tp->metadata_size = 1;
        rd_kafka_consumer_group_metadata_t *g = rd_kafka_consumer_group_metadata_new("g");
        ok(rd_kafka_send_offsets_to_transaction(p, offs, g, 30000), "send_offsets");
        rd_kafka_consumer_group_metadata_destroy(g);
        rd_kafka_topic_partition_list_destroy(offs);
        ok(rd_kafka_commit_transaction(p, 30000), "commit");
        printf("after commit: read_committed sees %d c-\n",
               count("readings", 4, "read_committed", "c-"));
        ok(rd_kafka_begin_transaction(p), "begin");
        produce_n(p, "readings", "a", 500);
        ok(rd_kafka_abort_transaction(p, 30000), "abort");
        ok(rd_kafka_begin_transaction(p), "begin");
        produce_n(p, "readings", "o", 300);
        printf("left txn with 300 o- open, exiting without commit/abort\n");
        fflush(stdout);
        _exit(0);
    } else if (!strcmp(argv[1], "phase2")) {
        rd_kafka_t *p = txn_producer("t1", "60000");
        printf("init_transactions(t1) again: ok\n");
        rd_kafka_destroy(p);
        const char *kv[] = {"group.id", "g", NULL};
        rd_kafka_t *c = mk(RD_KAFKA_CONSUMER, kv);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "readings", 0);
        rd_kafka_resp_err_t err = rd_kafka_committed(c, l, 10000);
        printf("committed g readings[0]: err=%s offset=%lld metadata=%.*s\n",
               rd_kafka_err2name(err), (long long)l->elems[0].offset,
               (int)l->elems[0].metadata_size, (const char *)l->elems[0].metadata);
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(c);
    } else if (!strcmp(argv[1], "fence")) {
        /* Old instance A is fenced by B (same transactional.id). */
        rd_kafka_t *a = txn_producer("t2", "60000");
        ok(rd_kafka_begin_transaction(a), "begin A");
        produce_n(a, "other", "f", 10);
        rd_kafka_t *b = txn_producer("t2", "60000");
        rd_kafka_error_t *e = rd_kafka_commit_transaction(a, 10000);
        printf("fenced A commit: %s (fatal=%d)\n", e ? rd_kafka_error_name(e) : "SUCCESS",
               e ? rd_kafka_error_is_fatal(e) : 0);
        ok(rd_kafka_begin_transaction(b), "begin B");
        produce_n(b, "other", "g", 5);
        ok(rd_kafka_commit_transaction(b, 30000), "commit B");
        /* Transaction timeout: the stand-in aborts it and fences the producer. */
        rd_kafka_t *t = txn_producer("t3", "1000");
        ok(rd_kafka_begin_transaction(t), "begin T");
        produce_n(t, "other", "x", 7);
        /* The condition waited for is the time itself: the transaction
           outlives its 1 s timeout (the stand-in aborts it then). */
        for (time_t until = time(NULL) + 3; time(NULL) < until;)
            rd_kafka_poll(t, 100);
        e = rd_kafka_commit_transaction(t, 10000);
        printf("timed-out txn commit: %s\n", e ? rd_kafka_error_name(e) : "SUCCESS");
        printf("other read_committed: f-=%d g-=%d x-=%d\n",
               count("other", 1, "read_committed", "f-"), count("other", 1, "read_committed", "g-"),
               count("other", 1, "read_committed", "x-"));
        fflush(stdout);
        _exit(0); /* fenced handles cannot be destroyed cleanly */
    }
    return 0;
}
