"""The kafka sink's transactions (transactional_id): a read_committed
consumer (kcat) sees every record exactly once across two kill -9s and a
30 s outage.

The peer for exactly-once is tests/integration/kafka_txn_standin.py, a
stand-in for a Kafka broker: librdkafka's mock cluster speaks the
transaction requests but keeps no transaction state (its Fetch returns no
aborted transactions and a last stable offset at the end of the log, and its
TxnOffsetCommit stores nothing), so what a crash left of an open transaction
would look delivered there, and the cursor a transaction stores could not be
read back. The stand-in follows the Kafka protocol for those parts; kcat
reads from it as an independent client. One case still runs against the
mock cluster: librdkafka's own broker code accepts every request the
transactional sink sends."""

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import (SKIP_EXIT, Sluice, TempDir, check_all, free_port, kafka_mock, main, metric,  # noqa: E402
                     run, sent, wait_for)  # noqa: E402
from kafka_txn_standin import KafkaTxnStandin  # noqa: E402
from test_kafka import OUTAGE_S, record_line, through_an_outage  # noqa: E402
from test_kafka import write_config as kafka_config  # noqa: E402

PARTITIONS = 4
TOPIC = "readings"


def consume(bootstrap, isolation="read_committed"):
    """Every message's seq, as a consumer with `isolation` sees them."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-o", "beginning", "-e", "-q",
                        "-X", f"isolation.level={isolation}", "-f", "%s\n"],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return [json.loads(line)["fields"]["seq"] for line in p.stdout.decode().splitlines() if line]


def write_config(d, bootstrap, port, source, extra="", topic=TOPIC):
    """test_kafka's configuration with the sink transactional."""
    return kafka_config(d, bootstrap, port, source, 'transactional_id = "edge-7.p.k"\n' + extra, topic)


def file_source(d, total):
    path = os.path.join(d, "input.ndjson")
    with open(path, "w") as f:
        f.write("".join(record_line(i) for i in range(total)))
    return (f'[[pipelines.p.sources]]\ntype = "file"\npath = "{path}"\npoll_interval = "20ms"\n'
            f'decode = ["json"]\n')


def all_delivered(bootstrap, total):
    def check():
        seqs = consume(bootstrap)
        return seqs if len(set(seqs)) >= total else None
    return check


def test_exactly_once_across_two_kill9s():
    total = 100_000
    with TempDir() as d, KafkaTxnStandin({TOPIC: PARTITIONS}) as broker:
        source = file_source(d, total)
        # First kill: sluice kills itself right after its 10th transaction
        # committed, before the buffer's cursor moved past those records.
        port = free_port()
        cfg = write_config(d, broker.bootstrap, port, source)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log1"),
                    env={"SLUICE_TEST_KAFKA_KILL_AFTER_COMMITS": "10"}) as s:
            rc = s.wait(120)
            assert rc == -signal.SIGKILL, f"exit {rc}: {s.logs()[-3000:]}"
        # Second kill: from outside, once this run confirmed another 30 %.
        port = free_port()
        cfg = write_config(d, broker.bootstrap, port, source)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: sent(port, "p/k") >= total * 3 // 10, 120, "another 30 % confirmed")
            recovered = metric(port, "sluice_kafka_sink_recovered_records_total", component="p/k")
            s.signal(signal.SIGKILL)
            s.proc.wait()
            log2 = s.logs()
        # Without the cursor in Kafka these records would have been produced twice.
        assert recovered > 0, f"the restart did not recognise the records committed before the kill:\n{log2[-3000:]}"
        assert "are in Kafka already" in log2, log2[-3000:]
        at_second_kill = len(consume(broker.bootstrap))
        port = free_port()
        cfg = write_config(d, broker.bootstrap, port, source)
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log3")) as s:
            wait_for(all_delivered(broker.bootstrap, total), 180, "every record, read_committed", interval=1)
            committed = metric(port, "sluice_kafka_sink_transactions_total", component="p/k", result="committed")
            limit = metric(port, "sluice_kafka_sink_transaction_max_records", component="p/k")
            # Counted once sluice has stopped: nothing can come after.
            s.signal(signal.SIGTERM)
            assert s.wait(60) == 0, s.logs()[-3000:]
        seqs = consume(broker.bootstrap)
        dups = check_all(seqs, total)
        uncommitted = consume(broker.bootstrap, "read_uncommitted")
        print(f"  two kill -9s: read_committed {len(seqs)} records, {dups} duplicates; read_uncommitted "
              f"{len(uncommitted)} ({len(uncommitted) - len(seqs)} in aborted transactions); {recovered:.0f} "
              f"records recognised as committed after the first kill; {at_second_kill} committed at the second "
              f"kill; last run: {committed:.0f} transactions, at most {limit:.0f} records each", flush=True)
        assert dups == 0, f"{dups} duplicates under read_committed"


def test_brokers_down_loses_nothing_and_repeats_nothing():
    first, second = 20_000, 20_000
    with TempDir() as d, KafkaTxnStandin({TOPIC: PARTITIONS}) as broker:
        port = free_port()
        cfg = write_config(d, broker.bootstrap, port, '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n',
                           'message_timeout = "3s"\nbatch_timeout = "6s"\ntransaction_timeout = "10s"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            through_an_outage(s, port, broker, first, second)
        seqs = consume(broker.bootstrap)
        dups = check_all(seqs, first + second)
        uncommitted = consume(broker.bootstrap, "read_uncommitted")
        print(f"  outage {OUTAGE_S:.0f}s: read_committed {len(seqs)} records, {dups} duplicates; read_uncommitted "
              f"{len(uncommitted)}", flush=True)
        assert dups == 0, f"{dups} duplicates under read_committed"


def test_records_kafka_cannot_take_are_dead_letters_never_in_a_transaction():
    """Every 1000th record lacks the name of the topic template: a dead
    letter, and the transactions end before each one (the cursor in Kafka
    never covers a record that is not there). Against librdkafka's mock
    cluster, whose broker code takes every request the sink sends."""
    total = 20_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        port = free_port()
        cfg = write_config(d, mock.bootstrap, port, '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n',
                           f'cursor_topic = "{TOPIC}"\n', topic="{to}")
        lines = []
        for i in range(total):
            r = {"gateway": "gw1", "node": f"n{i % 50}", "seq": i}
            if i % 1000 != 7:
                r["to"] = TOPIC
            lines.append(json.dumps(r) + "\n")
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write("".join(lines).encode())
            s.proc.stdin.flush()
            wait_for(lambda: sent(port, "p/k") >= total - total // 1000, 120, "every record confirmed")
            committed = metric(port, "sluice_kafka_sink_transactions_total", component="p/k", result="committed")
            dead = metric(port, "sluice_sink_dead_letters_total", component="p/k")
            s.proc.stdin.close()
            assert s.wait(60) == 0, s.logs()[-3000:]
        seqs = consume(mock.bootstrap)
        expected = [i for i in range(total) if i % 1000 != 7]
        print(f"  mock cluster: {len(seqs)} records in {committed:.0f} transactions, {dead:.0f} dead letters",
              flush=True)
        assert sorted(seqs) == expected, f"{len(seqs)} records, {len(set(seqs))} distinct, {len(expected)} expected"
        assert dead == total // 1000
        assert committed > 0


def test_replay_is_produced_again_not_taken_for_a_crash():
    """A replay of a transactional sink: the cursor in Kafka is past the
    replayed records, which must be produced again (not confirmed as "in
    Kafka already"), on a running gateway and after `sluice buffer replay`
    on a stopped one."""
    total = 5_000
    with TempDir() as d, KafkaTxnStandin({TOPIC: PARTITIONS}) as broker:
        port = free_port()
        token = "replay-secret"
        cfg = write_config(d, broker.bootstrap, port, '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n')
        with open(cfg) as f:
            text = f.read()
        text = text.replace(f'listen = "127.0.0.1:{port}"\n', f'listen = "127.0.0.1:{port}"\ntoken = "{token}"\n')
        with open(cfg, "w") as f:
            f.write(text + '[pipelines.p.buffer]\nretain = "24h"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write("".join(record_line(i) for i in range(total)).encode())
            s.proc.stdin.flush()
            wait_for(lambda: sent(port, "p/k") >= total, 120, "every record confirmed")
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/buffer/replay?pipeline=p&sink=k&from=4001",
                                         method="POST", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=60) as r:
                assert json.loads(r.read())["records"] == 1000
            wait_for(lambda: sent(port, "p/k") >= total + 1000, 120, "the replayed records confirmed")
            recovered = metric(port, "sluice_kafka_sink_recovered_records_total", component="p/k")
            s.proc.stdin.close()
            assert s.wait(60) == 0, s.logs()[-3000:]
        assert recovered == 0, "replayed records were taken for records a crash left in Kafka"
        seqs = consume(broker.bootstrap)
        assert sorted(seqs) == sorted(list(range(total)) + list(range(4000, total))), len(seqs)

        p = run(["buffer", "replay", "--data-dir", d, "--sink", "k", "--from", "4501"])
        assert p.returncode == 0, p.stderr.decode()
        port = free_port()
        cfg2 = write_config(d, broker.bootstrap, port, '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n')
        with open(cfg2, "a") as f:
            f.write('[pipelines.p.buffer]\nretain = "24h"\n')
        with Sluice(["run", "-c", cfg2, "--data-dir", d], log_path=os.path.join(d, "log2")) as s:
            assert s.wait(120) == 0, s.logs()[-3000:]
            log2 = s.logs()
        assert "are in Kafka already" not in log2 and "replaying from record 4501" in log2, log2[-3000:]
        seqs = consume(broker.bootstrap)
        assert sorted(seqs) == sorted(list(range(total)) + list(range(4000, total)) + list(range(4500, total)))
        print(f"  replays: {len(seqs)} records in Kafka after a live and an offline replay", flush=True)


if __name__ == "__main__":
    if shutil.which("kcat") is None:
        print("kcat is not installed: skipped", file=sys.stderr, flush=True)
        sys.exit(SKIP_EXIT)
    main([test_exactly_once_across_two_kill9s, test_brokers_down_loses_nothing_and_repeats_nothing,
          test_records_kafka_cannot_take_are_dead_letters_never_in_a_transaction,
          test_replay_is_produced_again_not_taken_for_a_crash])
