"""The kafka sink against librdkafka's mock cluster (sluice_kafka_mock, 3
brokers): every record arrives, keyed records land on the Java client's
murmur2 partition, a 30 s outage and a SIGKILL lose nothing, and duplicates
stay within what at-least-once allows. Consumed back with kcat."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import (Sluice, TempDir, check_all, free_port, kafka_mock, main, metric, sent,  # noqa: E402
                     wait_for)  # noqa: E402

PARTITIONS = 4
TOPIC = "readings"
OUTAGE_S = float(os.environ.get("SLUICE_KAFKA_OUTAGE_S", "30"))


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 exactly as org.apache.kafka.common.utils.Utils.murmur2."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    mask = 0xFFFFFFFF
    h = (seed ^ length) & mask
    for i in range(length // 4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rem = length % 4
    tail = length & ~3
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def java_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def consume(bootstrap):
    """Every message of TOPIC as (key, partition, seq)."""
    p = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", TOPIC, "-e", "-q", "-f", "%k\t%p\t%s\n"],
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    out = []
    for line in p.stdout.decode().splitlines():
        if not line:
            continue
        key, part, payload = line.split("\t", 2)
        out.append((key, int(part), json.loads(payload)["fields"]["seq"]))
    return out


def record_line(seq):
    return json.dumps({"gateway": "gw1", "node": f"n{seq % 50}", "seq": seq}) + "\n"


def write_config(d, bootstrap, port, source, extra="", topic=TOPIC):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f'[gateway]\nid = "edge-7"\n[http]\nlisten = "127.0.0.1:{port}"\n'
                f'[pipelines.p]\nbatch_max_records = 1000\nbatch_max_delay = "20ms"\n'
                f'{source}'
                f'[[pipelines.p.sinks]]\ntype = "kafka"\nid = "k"\nbrokers = ["{bootstrap}"]\n'
                f'topic = "{topic}"\nkey = "{{gateway}}/{{node}}"\nbatch_size = 1000\nretry_initial = "50ms"\n'
                f'retry_max = "1s"\n{extra}')
    return cfg





def through_an_outage(s, port, peer, first, second):
    """Writes `first` records to sluice's stdin and waits for them to be
    sent; takes the peer down (its "down" command), writes `second` more and
    ends the input; checks that the sink fails and confirms nothing more
    while the peer is down; brings it up after OUTAGE_S; returns once sluice
    exited, which it does when everything buffered was delivered."""
    s.proc.stdin.write("".join(record_line(i) for i in range(first)).encode())
    s.proc.stdin.flush()
    wait_for(lambda: sent(port, "p/k") >= first, 120, "first part sent")
    errors_before = metric(port, "sluice_component_errors_total", component="p/k")
    peer.command("down")
    down_at = time.monotonic()
    s.proc.stdin.write("".join(record_line(i) for i in range(first, first + second)).encode())
    s.proc.stdin.close()
    wait_for(lambda: metric(port, "sluice_component_errors_total", component="p/k") > errors_before, 60,
             "sink errors while the peer is down")
    assert sent(port, "p/k") < first + second, "records were confirmed while the peer was down"
    wait_for(lambda: time.monotonic() - down_at >= OUTAGE_S, OUTAGE_S + 5, "the outage to last", interval=0.2)
    peer.command("up")
    assert s.wait(180) == 0, s.logs()[-3000:]


STDIN_SOURCE = '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n'


def test_100k_records_keys_and_partitions():
    total = 100_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        port = free_port()
        cfg = write_config(d, mock.bootstrap, port, STDIN_SOURCE)
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            s.proc.stdin.write("".join(record_line(i) for i in range(total)).encode())
            s.proc.stdin.close()
            start = time.monotonic()
            # At end of input sluice delivers everything buffered, then exits.
            assert s.wait(300) == 0, s.logs()[-3000:]
            print(f"  100k records through sluice → kafka in {time.monotonic() - start:.1f}s", flush=True)
        messages = consume(mock.bootstrap)
        dups = check_all([m[2] for m in messages], total)
        print(f"  consumed {len(messages)}, duplicates {dups}", flush=True)
        for key, part, seq in messages:
            assert key == f"gw1/n{seq % 50}", (key, seq)
            assert part == java_partition(key.encode(), PARTITIONS), (key, part)
        # Headers: the origin, and the gateway's [gateway] id.
        p = subprocess.run(["kcat", "-C", "-b", mock.bootstrap, "-t", TOPIC, "-e", "-q", "-c", "3", "-f", "%h\n"],
                           capture_output=True, timeout=60, text=True)
        assert p.returncode == 0, p.stderr
        for line in p.stdout.splitlines():
            assert "gateway=edge-7" in line and "origin=" in line, line


def test_brokers_down_30s_loses_nothing():
    first, second = 20_000, 20_000
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        port = free_port()
        cfg = write_config(d, mock.bootstrap, port, STDIN_SOURCE,
                           'message_timeout = "3s"\nbatch_timeout = "6s"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], stdin=subprocess.PIPE, log_path=os.path.join(d, "log")) as s:
            through_an_outage(s, port, mock, first, second)
        messages = consume(mock.bootstrap)
        dups = check_all([m[2] for m in messages], first + second)
        print(f"  outage {OUTAGE_S:.0f}s: consumed {len(messages)}, duplicates {dups}", flush=True)


def test_sigkill_and_restart_duplicates_at_most_two_batches():
    total = 60_000
    # Two batches in flight: with a backlog, as here, the sink produces the
    # next batch while the last one's delivery reports come in, and each is
    # batch_size (1000) grown up to batch_growth (4) times.
    batch_size = 1000 * 4
    in_flight = 2 * batch_size
    with TempDir() as d, kafka_mock() as mock:
        mock.command(f"create {TOPIC} {PARTITIONS}")
        log = os.path.join(d, "input.ndjson")
        with open(log, "w") as f:
            f.write("".join(record_line(i) for i in range(total)))
        port = free_port()
        source = (f'[[pipelines.p.sources]]\ntype = "file"\npath = "{log}"\npoll_interval = "20ms"\n'
                  f'decode = ["json"]\n')
        cfg = write_config(d, mock.bootstrap, port, source, 'linger = "20ms"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log1")) as s:
            wait_for(lambda: sent(port, "p/k") >= total // 4, 120, "a quarter sent")
            s.signal(signal.SIGKILL)
            s.proc.wait()
        port2 = free_port()
        cfg = write_config(d, mock.bootstrap, port2, source, 'linger = "20ms"\n')
        with Sluice(["run", "-c", cfg, "--data-dir", d], log_path=os.path.join(d, "log2")):
            def all_there():
                msgs = consume(mock.bootstrap)
                return msgs if len({m[2] for m in msgs}) >= total else None
            messages = wait_for(all_there, 180, "every record after the restart", interval=1)
        dups = check_all([m[2] for m in messages], total)
        print(f"  SIGKILL + restart: consumed {len(messages)}, duplicates {dups}", flush=True)
        assert dups <= in_flight, f"{dups} duplicates > two grown batches ({in_flight})"


if __name__ == "__main__":
    if shutil.which("kcat") is None:
        print("kcat not installed", file=sys.stderr)
        sys.exit(2)
    main([test_100k_records_keys_and_partitions, test_brokers_down_30s_loses_nothing,
          test_sigkill_and_restart_duplicates_at_most_two_batches])
