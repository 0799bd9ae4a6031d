"""T6: the sink is down for 3 minutes (--long: 10) while 2,000 records/s
arrive: the gateway's resident memory, sampled every 10 s, stays flat (the
backlog waits in the buffer on disk, not in memory); when the sink returns,
every record is delivered."""

import os
import subprocess
import time

from battery import Sluice, TempDir, count_lines, count_numbers, figure, main, read_ndjson, size, wait_for, gateway_sections

RATE = 2_000
DOWN_SECONDS = size(180, 600)
# Samples before this are the start-up (allocator arenas, first batches).
SETTLE_SECONDS = 20
# "Flat": the growth from the first settled sample to the largest one.
MAX_GROWTH_MIB = 4.0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_flat_while_the_sink_is_down():
    total = RATE * DOWN_SECONDS
    with TempDir() as d:
        # The sink is "down" while its directory's name is taken by a plain
        # file: every open fails (ENOTDIR) and is retried with back-off.
        blocker = os.path.join(d, "out")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        out = os.path.join(blocker, "records.ndjson")
        cfg = os.path.join(d, "sluice.toml")
        with open(cfg, "w") as f:
            f.write(f"""
{gateway_sections(d, None)}
[[pipelines.t6.sources]]
type = "simulate"
rate = {RATE}
count = {total}

[[pipelines.t6.sinks]]
type = "file"
path = "{out}"
retry_max = "5s"
""")
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log.txt")) as s:
            samples = []
            start = time.monotonic()
            while time.monotonic() - start < DOWN_SECONDS:
                samples.append((time.monotonic() - start, rss_mib(s.proc.pid)))
                # The next sample in 10 s, unless the gateway dies first.
                try:
                    s.proc.wait(timeout=10)
                    raise AssertionError("sluice exited while the sink was down:\n" + s.logs()[-3000:])
                except subprocess.TimeoutExpired:
                    pass
            os.remove(blocker)
            back = time.monotonic()
            wait_for(lambda: count_lines(out) >= total or s.proc.poll() is not None, 300,
                     f"{total} records delivered")
            drained = time.monotonic() - back
            assert s.wait(60) == 0, s.logs()[-3000:]
        missing, dups, unexpected = count_numbers([r["fields"]["seq"] for r in read_ndjson(out)], total)
        settled = [m for t, m in samples if t >= SETTLE_SECONDS]
        growth = max(settled) - settled[0]
        text = " ".join(f"{m:.1f}" for _, m in samples)
        figure("t6_sink_down", f"sink down {DOWN_SECONDS} s at {RATE}/s: RSS MiB every 10 s [{text}], growth after "
                               f"{SETTLE_SECONDS} s {growth:.1f} MiB; {total} records delivered {drained:.1f} s after "
                               f"the sink returned, missing {missing}, duplicates {dups}")
        assert missing == 0 and unexpected == 0, (missing, unexpected)
        assert growth <= MAX_GROWTH_MIB, f"RSS grew {growth:.1f} MiB while the sink was down: {text}"


if __name__ == "__main__":
    main([test_memory_stays_flat_while_the_sink_is_down])
