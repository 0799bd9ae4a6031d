"""The file sink owns only what it wrote: a line appended to its output by
hand survives a restart and a reload (and nothing sluice confirmed is lost
or written twice); two sinks with one path are a configuration error naming
both; a second sluice on the same output file is refused."""

import json
import os
import signal
import subprocess

from harness import Sluice, TempDir, main, run, wait_for, gateway_sections

HAND = "# a line written by hand\n"


def write_config(d, inp, out, fsync=True):
    cfg = os.path.join(d, "sluice.toml")
    with open(cfg, "w") as f:
        f.write(f"""
{gateway_sections(d, None)}
[pipelines.own]
[[pipelines.own.sources]]
type = "file"
path = "{inp}"
poll_interval = "20ms"
decode = ["json"]

[[pipelines.own.sinks]]
type = "file"
path = "{out}"
fsync = {"true" if fsync else "false"}
""")
    return cfg


def feed(inp, first, n):
    with open(inp, "a") as f:
        for i in range(first, first + n):
            f.write(json.dumps({"seq": i}) + "\n")


def output(out):
    """(seqs in order, foreign lines) of the output file."""
    seqs, foreign = [], []
    if not os.path.exists(out):
        return seqs, foreign
    with open(out) as f:
        for line in f:
            if line.startswith("{"):
                seqs.append(json.loads(line)["fields"]["seq"])
            else:
                foreign.append(line)
    return seqs, foreign


def has_rows(out, n):
    return len(output(out)[0]) >= n


def test_hand_written_line_survives_restart_and_reload():
    with TempDir() as d:
        inp, out = os.path.join(d, "in.ndjson"), os.path.join(d, "out.ndjson")
        cfg = write_config(d, inp, out)
        feed(inp, 0, 100)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1")) as s:
            wait_for(lambda: has_rows(out, 100), 30, "the first 100 rows")
            with open(out, "a") as f:
                f.write(HAND)
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0
        # Restart: the hand-written line is past the confirmed length.
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log2")) as s:
            feed(inp, 100, 100)
            wait_for(lambda: has_rows(out, 200), 30, "200 rows after the restart")
            # A reload that rebuilds the pipeline opens the file again.
            with open(out, "a") as f:
                f.write(HAND)
            write_config(d, inp, out, fsync=False)
            s.signal(signal.SIGHUP)
            wait_for(lambda: "reload done" in s.logs(), 30, "the reload")
            feed(inp, 200, 100)
            wait_for(lambda: has_rows(out, 300), 30, "300 rows after the reload")
            logs = s.logs()
            s.signal(signal.SIGTERM)
            assert s.wait(30) == 0
        seqs, foreign = output(out)
        assert foreign == [HAND, HAND], foreign
        assert seqs == list(range(300)), f"{len(seqs)} rows, first differences at " \
            f"{next((i for i, v in enumerate(seqs) if v != i), None)}"
        assert "written after the last confirmed batch" not in logs, logs
        assert "left in place" in logs, logs
        with open(out) as f:
            text = f.read()
        # Each hand-written line sits where it was written, after the rows before it.
        assert text.index(HAND) > text.index('"seq":99}'), text[:200]
        print(f"300 rows once each, 2 hand-written lines kept")


def test_two_sinks_with_one_path_are_a_config_error():
    with TempDir() as d:
        cfg = os.path.join(d, "dup.toml")
        with open(cfg, "w") as f:
            f.write(f"""[pipelines.a]
[[pipelines.a.sources]]
type = "stdin"
[[pipelines.a.sinks]]
type = "file"
path = "{d}/out.ndjson"

[pipelines.b]
[[pipelines.b.sources]]
type = "stdin"
[[pipelines.b.sinks]]
type = "file"
path = "{d}/sub/../out.ndjson"
[[pipelines.b.sinks]]
type = "file"
path = "/dev/stdout"
[[pipelines.b.sinks]]
type = "file"
id = "again"
path = "/dev/stdout"
""")
        r = run(["validate", "-c", cfg])
        err = r.stderr.decode()
        assert r.returncode == 2, (r.returncode, err)
        assert f"{cfg}:13:" in err and f"{cfg}:6:" in err, err
        assert "1 error(s)" in err, err  # /dev/stdout twice is fine
        # The pipeline string too.
        r = run(["validate", "-e", f"stdin ! file path={d}/x.ndjson ! file path={d}/./x.ndjson"])
        assert r.returncode == 2 and "x.ndjson" in r.stderr.decode(), r.stderr.decode()


def test_a_second_sluice_on_the_same_file_is_refused():
    with TempDir() as d:
        inp, out = os.path.join(d, "in.ndjson"), os.path.join(d, "out.ndjson")
        cfg = write_config(d, inp, out)
        feed(inp, 0, 10)
        with Sluice(["run", "-c", cfg], log_path=os.path.join(d, "log1")) as first:
            wait_for(lambda: has_rows(out, 10), 30, "the first sluice's rows")
            other = os.path.join(d, "other")
            os.mkdir(other)
            with Sluice(["run", "-c", cfg, "--data-dir", other], log_path=os.path.join(d, "log2")) as second:
                wait_for(lambda: "in use by another sluice" in second.logs(), 30, "the refusal")
                assert out in second.logs()
                feed(inp, 10, 10)
                wait_for(lambda: has_rows(out, 20), 30, "the first sluice going on")
            first.signal(signal.SIGTERM)
            assert first.wait(30) == 0
        seqs, _ = output(out)
        assert seqs == list(range(20)), seqs


if __name__ == "__main__":
    main([test_hand_written_line_survives_restart_and_reload, test_two_sinks_with_one_path_are_a_config_error,
          test_a_second_sluice_on_the_same_file_is_refused])
