"""The kafka source against librdkafka's mock cluster (sluice_kafka_mock, 3
brokers, 4 partitions), messages produced with kcat: every message arrives
with its partition and key in the origin, offsets reach Kafka (a new
gateway in the group reads only what is new), two kill -9s lose nothing
(the buffer's own positions say where each partition resumes), a 30 s
outage of every broker loses nothing, and a second gateway in the group
takes over the partitions of one that was killed."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import (SKIP_EXIT, Sluice, TempDir, free_port, http_get, kafka_mock, main, metric,  # noqa: E402
                     read_ndjson, wait_for)  # noqa: E402

TOPIC = "readings"
PARTITIONS = 4
OUTAGE_S = float(os.environ.get("SLUICE_KAFKA_OUTAGE_S", "30"))


def produce(bootstrap, first, count):
    """`count` numbered messages (seq first..), keyed k<seq % 7>, with kcat.
    (The mock cluster keeps about 5 MB per partition; these tests stay well
    below.)"""
    lines = "".join(f"k{i % 7}\t" + json.dumps({"seq": i}) + "\n" for i in range(first, first + count))
    p = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", TOPIC, "-K", "\t"], input=lines.encode(),
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")


# The mock cluster answers a JoinGroup only once every member it knows
# rejoined or timed out, even one that left: a short session timeout keeps
# each new member's wait short (a real cluster needs this only after a
# kill -9).
SESSION = 'rdkafka_properties = ["session.timeout.ms=6000", "heartbeat.interval.ms=500"]\n'


def write_config(d, bootstrap, port, out, group="g1", extra=""):
    cfg = os.path.join(d, f"sluice-{port}.toml")
    with open(cfg, "w") as f:
        f.write(f'[http]\nlisten = "127.0.0.1:{port}"\n'
                f'[pipelines.p]\nbatch_max_records = 1000\nbatch_max_delay = "20ms"\n'
                f'[[pipelines.p.sources]]\ntype = "kafka"\nid = "k"\nbrokers = ["{bootstrap}"]\n'
                f'topics = ["{TOPIC}"]\ngroup_id = "{group}"\ndecode = ["json"]\n{SESSION}{extra}'
                f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n')
    return cfg


def seqs(out):
    return [r["fields"]["seq"] for r in read_ndjson(out)]


def distinct(out):
    return len(set(seqs(out)))


def ready_names_source_down(port):
    """/ready names the source as down (200 still: the source is not `required`)."""
    try:
        body = http_get(port, "/ready")[1]
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
    except OSError:
        return False
    return "p/k: source down for" in body


def test_every_message_with_partition_and_key_and_offsets_committed():
    total = 20_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        produce(mock.bootstrap, 0, total)
        port = free_port()
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, mock.bootstrap, port, out,
                           extra='origin = "{topic}/{partition}/{key}"\ncommit_interval = "100ms"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", os.path.join(d, "data")], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= total, 120, "every message delivered")
            records = read_ndjson(out)
            got = sorted(r["fields"]["seq"] for r in records)
            assert got == list(range(total)), (len(got), len(set(got)), s.logs()[-2000:])
            partitions = {}
            for r in records:
                m = re.fullmatch(rf"{TOPIC}/(\d)/k(\d)", r["origin"])
                assert m, r["origin"]
                assert int(m.group(2)) == r["fields"]["seq"] % 7, r
                # One key, one partition.
                assert partitions.setdefault(m.group(2), m.group(1)) == m.group(1), r
            received = metric(port, "sluice_component_received_records_total", component="p/k")
            assert received == total, (received, s.logs()[-2000:])
            wait_for(lambda: metric(port, "sluice_kafka_source_offset_commits_total", component="p/k",
                                    result="ok") > 0, 30, "an offset commit")
            unsaved = metric(port, "sluice_kafka_source_unsaved_messages", component="p/k")
            assert unsaved == 0, unsaved
            s.signal(signal.SIGTERM)
            assert s.wait(60) == 0, s.logs()[-3000:]
        # A new gateway (empty buffer) in the same group starts at Kafka's
        # committed offsets: it reads only what comes next.
        port2 = free_port()
        out2 = os.path.join(d, "out2.ndjson")
        cfg2 = write_config(d, mock.bootstrap, port2, out2)
        with Sluice(["run", "-c", cfg2, "--data-dir", os.path.join(d, "data2")], log_path=os.path.join(d, "log2")) as s:
            wait_for(lambda: "assigned 4 partition(s)" in s.logs(), 60, "the partitions assigned")
            produce(mock.bootstrap, total, 1)
            wait_for(lambda: len(read_ndjson(out2)) >= 1, 60, "the new message")
            assert seqs(out2) == [total], seqs(out2)[:10]


def test_two_kill9s_lose_nothing():
    total, chunk = 100_000, 10_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        out = os.path.join(d, "out.ndjson")
        data = os.path.join(d, "data")
        # Kafka hears of the stored offsets only every 5 s, so each restart
        # finds the buffer ahead of the group's committed offsets.
        extra = 'commit_interval = "5s"\n'
        produced = 0
        resumed = 0
        # Each run reads its share as it is produced; the first two are
        # killed as soon as they have read it, the third ends cleanly.
        for run, share in enumerate((3 * chunk, 3 * chunk, 4 * chunk)):
            port = free_port()
            cfg = write_config(d, mock.bootstrap, port, out, extra=extra)
            with Sluice(["run", "-c", cfg, "--data-dir", data], log_path=os.path.join(d, f"log{run}")) as s:
                wait_for(lambda: "assigned 4 partition(s)" in s.logs(), 60, "the partitions assigned")
                resumed += s.logs().count("where the buffer is")
                taken = 0
                for _ in range(share // chunk):
                    produce(mock.bootstrap, produced, chunk)
                    produced += chunk
                    taken += chunk
                    wait_for(lambda: metric(port, "sluice_component_received_records_total", component="p/k") >= taken,
                             60, f"{taken} messages read")
                if run < 2:
                    s.signal(signal.SIGKILL)
                    s.proc.wait()
                else:
                    wait_for(lambda: distinct(out) >= total, 120, "every message after two kill -9s", interval=0.5)
                    s.signal(signal.SIGTERM)
                    assert s.wait(60) == 0, s.logs()[-3000:]
        got = seqs(out)
        missing = set(range(total)) - set(got)
        assert not missing, f"{len(missing)} missing, e.g. {sorted(missing)[:10]}"
        dups = len(got) - len(set(got))
        print(f"  100k messages, two kill -9s: 0 missing, {dups} duplicates; {resumed} partition(s) resumed "
              f"where the buffer was, ahead of the group's committed offset", flush=True)
        assert resumed > 0, "no partition resumed at the buffer's position"


def test_brokers_down_30s_loses_nothing():
    first, second = 20_000, 20_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        produce(mock.bootstrap, 0, first)
        port = free_port()
        out = os.path.join(d, "out.ndjson")
        cfg = write_config(d, mock.bootstrap, port, out)
        with Sluice(["run", "-c", cfg, "--data-dir", os.path.join(d, "data")], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: len(read_ndjson(out)) >= first, 120, "the first part delivered")
            mock.command("down")
            down_at = time.monotonic()
            try:
                wait_for(lambda: ready_names_source_down(port), 60, "/ready naming the source down")
            except AssertionError as e:
                raise AssertionError(f"{e}\n{s.logs()[-3000:]}") from None
            assert metric(port, "sluice_source_up", component="p/k") == 0
            wait_for(lambda: time.monotonic() - down_at >= OUTAGE_S, OUTAGE_S + 5, "the outage to last", interval=0.2)
            mock.command("up")
            produce(mock.bootstrap, first, second)
            wait_for(lambda: distinct(out) >= first + second, 120, "the second part after the outage")
            wait_for(lambda: metric(port, "sluice_source_up", component="p/k") == 1, 60, "the source up again")
            got = seqs(out)
            assert sorted(set(got)) == list(range(first + second))
            print(f"  outage {OUTAGE_S:.0f}s: {len(got)} delivered, {len(got) - len(set(got))} duplicates",
                  flush=True)


def test_a_second_gateway_takes_over_the_partitions_of_a_killed_one():
    total = 40_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        # A short session timeout so the group notices the killed member soon.
        extra = 'max_unsaved_messages = 500\n'
        outs = [os.path.join(d, "a.ndjson"), os.path.join(d, "b.ndjson")]
        ports = [free_port(), free_port()]
        cfgs = [write_config(d, mock.bootstrap, ports[i], outs[i], group="shared", extra=extra) for i in range(2)]
        with Sluice(["run", "-c", cfgs[0], "--data-dir", os.path.join(d, "a")], log_path=os.path.join(d, "la")) as a, \
                Sluice(["run", "-c", cfgs[1], "--data-dir", os.path.join(d, "b")], log_path=os.path.join(d, "lb")) as b:
            # Both members hold partitions of the group.
            wait_for(lambda: "assigned 2 partition(s)" in a.logs() and "assigned 2 partition(s)" in b.logs(), 60,
                     "the partitions split between the two gateways")
            produce(mock.bootstrap, 0, total // 2)
            wait_for(lambda: len(read_ndjson(outs[0])) > 0 and len(read_ndjson(outs[1])) > 0, 60,
                     "both gateways reading")
            a.signal(signal.SIGKILL)
            a.proc.wait()
            produce(mock.bootstrap, total // 2, total // 2)
            wait_for(lambda: "assigned 4 partition(s)" in b.logs(), 60, "the second gateway taking all partitions")
            wait_for(lambda: len(set(seqs(outs[0])) | set(seqs(outs[1]))) >= total, 120,
                     "every message by one gateway or the other")
            got = seqs(outs[0]) + seqs(outs[1])
            assert sorted(set(got)) == list(range(total))
            print(f"  group of two, one killed: {len(got) - len(set(got))} duplicates", flush=True)


if __name__ == "__main__":
    if shutil.which("kcat") is None:
        print("kcat is not installed: skipped", file=sys.stderr, flush=True)
        sys.exit(SKIP_EXIT)
    main([test_every_message_with_partition_and_key_and_offsets_committed, test_two_kill9s_lose_nothing,
          test_brokers_down_30s_loses_nothing, test_a_second_gateway_takes_over_the_partitions_of_a_killed_one])
