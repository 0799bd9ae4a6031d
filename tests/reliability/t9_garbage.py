"""T9: valid lines with garbage mixed in (100k + 1,000; --long 1M + 10,000)
through `stdin ! decode chain=json ! file`: every valid line becomes exactly
one record, every garbage line exactly one dead letter with its reason."""

import json
import os
import random
import time

from battery import TempDir, count_numbers, figure, main, read_ndjson, run, size

VALID = size(100_000, 1_000_000)
GARBAGE = size(1_000, 10_000)
# Kinds of garbage a device sends: cut-off JSON, binary noise, the wrong
# format, an empty object's worth of nothing, a huge line.
KINDS = [
    lambda i, rng: '{"seq": %d, "temp": ' % i,
    lambda i, rng: bytes(rng.randrange(1, 256) for _ in range(40)).replace(b"\n", b" ").decode("latin-1"),
    lambda i, rng: f"temp,node=n{i} value=1 1700000000",
    lambda i, rng: "[1, 2, 3" * 5,
    lambda i, rng: "x" * 20_000,
]


def test_garbage_goes_to_dead_letters():
    seed = int(os.environ.get("SLUICE_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    garbage_at = set(rng.sample(range(VALID + GARBAGE), GARBAGE))
    lines = []
    seq = 0
    for i in range(VALID + GARBAGE):
        if i in garbage_at:
            lines.append(KINDS[i % len(KINDS)](i, rng))
        else:
            lines.append(json.dumps({"seq": seq, "temp": 20.5}))
            seq += 1
    data = ("\n".join(lines) + "\n").encode("latin-1")
    with TempDir() as d:
        out = os.path.join(d, "out.ndjson")
        start = time.monotonic()
        p = run(["run", "-e", f"stdin ! decode chain=json ! file path={out}", "--data-dir", d + "/data", "--http", "off"],
                input=data, timeout=600)
        took = time.monotonic() - start
        assert p.returncode == 0, p.stderr.decode()[-2000:]
        records = read_ndjson(out)
        missing, dups, unexpected = count_numbers([r["fields"].get("seq") for r in records], VALID)
        assert (missing, dups, unexpected) == (0, 0, 0), (missing, dups, unexpected)
        assert len(records) == VALID, len(records)

        dl = run(["buffer", "export", "--dead-letters", "--data-dir", d + "/data"], timeout=120)
        assert dl.returncode == 0, dl.stderr.decode()
        dead = [json.loads(x) for x in dl.stdout.decode(errors="replace").splitlines() if x.strip()]
        assert len(dead) == GARBAGE, f"{len(dead)} dead letters, {GARBAGE} garbage lines"
        assert all(x.get("reason") for x in dead), "a dead letter without a reason"
        figure("t9_garbage", f"{VALID} valid + {GARBAGE} garbage lines -> {len(records)} records, "
                             f"{len(dead)} dead letters, {took:.1f} s")


if __name__ == "__main__":
    main([test_garbage_goes_to_dead_letters])
