"""The transactions stand-in (kafka_txn_standin.py) against librdkafka's own
clients: its transactional producer and consumers (sluice_kafka_txn_client,
built from tests/integration/kafka_txn_client/) and kcat. The kafka sink's
exactly-once test (test_kafka_transactions.py) relies on the stand-in for
what librdkafka's mock cluster does not keep: the last stable offset, the
aborted transactions, the offsets committed in a transaction and fencing.
This shows the stand-in answers those as a broker does, and survives
garbage on its port."""

import collections
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import SKIP_EXIT, SLUICE, main  # noqa: E402
from kafka_txn_standin import KafkaTxnStandin  # noqa: E402


def client():
    build = os.path.dirname(os.path.dirname(os.path.abspath(SLUICE)))
    for cand in (os.path.join(build, "tests", "sluice_kafka_txn_client"), os.path.join(build, "sluice_kafka_txn_client")):
        if os.path.exists(cand):
            return cand
    raise AssertionError(f"sluice_kafka_txn_client not found beside {SLUICE}")


def run(cmd, stdin=None, timeout=120):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr[-2000:]}"
    return p.stdout


def kcat(bootstrap, *args, stdin=None):
    return run(["kcat", "-b", bootstrap, "-X", "client.id=kcat", *args], stdin=stdin)


def test_open_committed_aborted_and_left_transactions():
    exe = client()
    with KafkaTxnStandin({"readings": 4}) as k:
        out = run([exe, "phase1", k.bootstrap])
        # The last stable offset hides an open transaction from read_committed.
        assert "open txn: read_committed sees 0 c-, read_uncommitted sees 1000 c-" in out, out
        assert "after commit: read_committed sees 1000 c-" in out, out
        # A new producer with the same transactional id aborts the one left
        # open, and the offset committed in the transaction is visible.
        out = run([exe, "phase2", k.bootstrap])
        assert "offset=1234 metadata=m" in out, out
        st = k.stats()
        assert st["committed_txns"] == 1 and st["aborted_txns"] == 2 and st["open_txns"] == 0, st
        committed = kcat(k.bootstrap, "-C", "-t", "readings", "-o", "beginning", "-e",
                         "-X", "isolation.level=read_committed", "-f", "%s\n").split()
        assert sorted(committed) == sorted(f"c-{i}" for i in range(1000)), len(committed)
        everything = kcat(k.bootstrap, "-C", "-t", "readings", "-o", "beginning", "-e",
                          "-X", "isolation.level=read_uncommitted", "-f", "%s\n").split()
        counts = collections.Counter(v.split("-")[0] for v in everything)
        assert counts == {"c": 1000, "a": 500, "o": 300}, counts


def test_fencing_and_transaction_timeout():
    exe = client()
    with KafkaTxnStandin({"other": 1}) as k:
        out = run([exe, "fence", k.bootstrap], timeout=180)
        fenced = out.split("fenced A commit: ")[1].split("\n")[0]
        assert "SUCCESS" not in fenced, out
        assert "other read_committed: f-=0 g-=5 x-=0" in out, out
        # A plain (non-transactional) producer and consumer work beside them.
        kcat(k.bootstrap, "-P", "-t", "other", stdin="p-1\np-2\np-3\n")
        other = kcat(k.bootstrap, "-C", "-t", "other", "-o", "beginning", "-e", "-f", "%s\n").split()
        assert other == [f"g-{i}" for i in range(5)] + ["p-1", "p-2", "p-3"], other


def test_garbage_and_outages_do_not_stop_it():
    with KafkaTxnStandin({"readings": 4}) as k:
        host, port = k.bootstrap.split(":")
        for junk in (b"\xff" * 64, b"\x7f\xff\xff\xff" + b"x" * 100, b"\x00\x00\x00\x10" + os.urandom(16),
                     b"\x00\x00\x00\x0c\x00\x01\x00\x0b\x00\x00\x00\x01\xff\xff\x7f\xff"):
            with socket.create_connection((host, int(port))) as s:
                s.sendall(junk)
                s.settimeout(5)
                try:
                    s.recv(100)
                except OSError:
                    pass
        assert 'topic "readings" with 4 partitions' in kcat(k.bootstrap, "-L")
        assert k.proc.poll() is None
        k.down()
        k.up()
        assert 'topic "readings" with 4 partitions' in kcat(k.bootstrap, "-L")


if __name__ == "__main__":
    if shutil.which("kcat") is None:
        print("kcat is not installed: skipped", file=sys.stderr, flush=True)
        sys.exit(SKIP_EXIT)
    main([test_open_committed_aborted_and_left_transactions, test_fencing_and_transaction_timeout,
          test_garbage_and_outages_do_not_stop_it])
