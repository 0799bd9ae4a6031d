"""`sluice test` (a config over fixture input, as in CI), `validate` running
every build-time check `run` runs, a reload that fails at build time, the
topology and window-field warnings, and `components NAME --toml`."""

import glob
import json
import os
import re
import signal
import subprocess
import tempfile

from harness import Sluice, TempDir, free_port, http_get, main, metric_value, run, wait_for

# Influx lines with their own times (2023-11-14T22:13:20Z and on): a tumbling
# minute per node, filtered so one line is dropped, and a broken line.
WINDOW_CONFIG = """
[[pipelines.plant.sources]]
type = "stdin"
decode = ["influx"]

[[pipelines.plant.stages]]
type = "filter"
drop = "value < 0"

[[pipelines.plant.stages]]
type = "window"
kind = "tumbling"
size = "1m"
group_by = ["node"]
fields = ["value"]
aggregates = ["count", "mean", "max"]
measurement = "climate_1m"

[[pipelines.plant.sinks]]
type = "kafka"
brokers = ["127.0.0.1:1"]
topic = "never-contacted"

[[pipelines.plant.sinks]]
id = "archive"
type = "file"
path = "{out}"
"""

FIXTURE = """climate,node=n1 value=20 1700000000000000000
climate,node=n1 value=22 1700000010000000000
climate,node=n2 value=5 1700000020000000000
climate,node=n1 value=-1 1700000030000000000

this is not influx line protocol
climate,node=n1 value=30 1700000070000000000
"""


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def leftovers():
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "sluice-test-*")))


def setup(d):
    out = os.path.join(d, "never-written.ndjson")
    cfg = write(d, "plant.toml", WINDOW_CONFIG.replace("{out}", out))
    fixture = write(d, "fixture.txt", FIXTURE)
    return cfg, fixture, out


def records(stdout):
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def test_windows_close_at_end_and_sinks_are_captured():
    before = leftovers()
    with TempDir() as d:
        cfg, fixture, out = setup(d)
        p = run(["test", "-c", cfg, "--input", fixture], timeout=60)
        err = p.stderr.decode()
        assert p.returncode == 0, err
        recs = records(p.stdout)
        # 3 windows (n1 minute 0, n2 minute 0, n1 minute 1), once per sink.
        assert len(recs) == 6, recs
        assert [r["_sink"] for r in recs] == ["archive"] * 3 + ["kafka"] * 3, recs
        by_key = {(r["tags"]["node"], r["fields"]["window_start"]): r for r in recs if r["_sink"] == "kafka"}
        assert len(by_key) == 3, by_key
        first = [r for r in recs if r["_sink"] == "kafka" and r["tags"]["node"] == "n1"]
        first.sort(key=lambda r: r["fields"]["window_start"])
        assert first[0]["fields"]["value_count"] == 2, first[0]
        assert first[0]["fields"]["value_mean"] == 21, first[0]
        assert first[1]["fields"]["value_max"] == 30, first[1]
        assert all(r["measurement"] == "climate_1m" for r in recs), recs
        # The broken line is a dead letter on stderr, with its reason.
        assert "this is not influx line protocol" in err, err
        assert '"reason"' in err, err
        assert "6 frame(s) in, 6 record(s) out, 1 dead letter(s)" in err, err
        # No real sink was contacted, nothing written.
        assert not os.path.exists(out)
    assert leftovers() == before, leftovers() - before


def test_expect_match_mismatch_and_unordered():
    with TempDir() as d:
        cfg, fixture, _ = setup(d)
        p = run(["test", "-c", cfg, "--input", fixture])
        assert p.returncode == 0, p.stderr.decode()
        lines = [line for line in p.stdout.decode().splitlines() if line.strip()]
        # Same records with members reordered and 21 written as 21.0: a match.
        same = []
        for line in lines:
            r = json.loads(line)
            if "value_mean" in r["fields"]:
                r["fields"]["value_mean"] = float(r["fields"]["value_mean"])
            same.append(json.dumps(dict(reversed(list(r.items())))))
        expected = write(d, "expected.ndjson", "\n".join(same) + "\n")
        p = run(["test", "-c", cfg, "--input", fixture, "--expect", expected])
        assert p.returncode == 0, p.stderr.decode()
        assert "ok, 6 record(s) as expected" in p.stderr.decode()

        # Order matters by default; --unordered ignores it.
        shuffled = write(d, "shuffled.ndjson", "\n".join(reversed(same)) + "\n")
        p = run(["test", "-c", cfg, "--input", fixture, "--expect", shuffled])
        assert p.returncode == 1, p.stderr.decode()
        p = run(["test", "-c", cfg, "--input", fixture, "--expect", shuffled, "--unordered"])
        assert p.returncode == 0, p.stderr.decode()

        # A changed value: exit 1 and a diff naming both sides.
        wrong = [json.loads(x) for x in same]
        wrong[0]["fields"]["value_count"] = 99
        wrong_path = write(d, "wrong.ndjson", "\n".join(json.dumps(w) for w in wrong) + "\n")
        p = run(["test", "-c", cfg, "--input", fixture, "--expect", wrong_path, "--unordered"])
        err = p.stderr.decode()
        assert p.returncode == 1, err
        assert "- expected, not produced" in err and "+ produced, not expected" in err, err
        assert "99" in err and "MISMATCH" in err, err


def test_time_can_be_ignored():
    with TempDir() as d:
        cfg = write(d, "json.toml", '[[pipelines.p.sources]]\ntype = "stdin"\ndecode = ["json"]\n'
                                    '[[pipelines.p.sinks]]\ntype = "stdout"\n')
        fixture = write(d, "in.ndjson", '{"a":1}\n{"a":2}\n')
        expected = write(d, "expected.ndjson",
                         '{"_sink":"stdout","fields":{"a":1}}\n{"_sink":"stdout","fields":{"a":2.0}}\n')
        p = run(["test", "-c", cfg, "--input", fixture, "--expect", expected, "--ignore", "time",
                 "--ignore", "origin"])
        assert p.returncode == 0, p.stderr.decode() + p.stdout.decode()


def test_config_errors_exit_2():
    with TempDir() as d:
        cfg, fixture, _ = setup(d)
        bad = write(d, "bad.toml", WINDOW_CONFIG.replace('kind = "tumbling"', 'kindd = "tumbling"'))
        p = run(["test", "-c", bad, "--input", fixture])
        assert p.returncode == 2, p.stderr.decode()
        assert "kindd" in p.stderr.decode()
        p = run(["test", "-c", cfg, "--input", fixture, "--pipeline", "plnat"])
        assert p.returncode == 2 and "did you mean 'plant'" in p.stderr.decode(), p.stderr.decode()
        p = run(["test", "-c", cfg, "--input", os.path.join(d, "missing.txt")])
        assert p.returncode == 2, p.stderr.decode()


TOPOLOGY = """
[[pipelines.p.sources]]
type = "stdin"
decode = ["json"]
{topology}
[[pipelines.p.sinks]]
type = "stdout"
"""


def test_validate_runs_build_time_checks():
    with TempDir() as d:
        cases = {
            "regex_does_not_compile": ('topology = "regex"\ntopology_regex = "(?P<node>[a-z+"', "does not compile"),
            "regex_missing": ('topology = "regex"', "needs topology_regex"),
            "pattern_missing": ('topology = "pattern"', "needs topology_pattern"),
        }
        for name, (topology, message) in cases.items():
            cfg = write(d, name + ".toml", TOPOLOGY.replace("{topology}", topology))
            p = run(["validate", cfg])
            err = p.stderr.decode()
            assert p.returncode == 2, f"{name}: {err}{p.stdout.decode()}"
            assert message in err, f"{name}: {err}"
            assert re.search(r":\d+:\d+: .*source 'stdin'", err), f"{name}: {err}"
            # `run` refuses it with the same message (it builds the same way).
            r = run(["run", "-c", cfg, "--data-dir", d, "--http", "off"], timeout=30)
            assert r.returncode == 2 and message in r.stderr.decode(), f"{name}: {r.stderr.decode()}"
        good = write(d, "good.toml", TOPOLOGY.replace("{topology}", 'topology = "regex"\n'
                                                      'topology_regex = "sensors/(?P<node>[^/]+)"'))
        p = run(["validate", good])
        assert p.returncode == 0, p.stderr.decode()


def test_reload_failing_at_build_time_keeps_running():
    with TempDir() as d:
        cfg = os.path.join(d, "sluice.toml")
        out = os.path.join(d, "out.ndjson")

        def write_cfg(extra):
            with open(cfg, "w") as f:
                f.write(f'[[pipelines.p.sources]]\ntype = "simulate"\nrate = 50\n{extra}\n'
                        f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n')

        write_cfg("")
        with Sluice(["run", "-c", cfg, "--data-dir", d, "--http", "off"], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 0, 20, "first output")
            # Parses, but only building the source finds the regex wrong.
            write_cfg('topology = "regex"\ntopology_regex = "(unclosed"')
            s.signal(signal.SIGHUP)
            wait_for(lambda: "reload rejected, the running configuration stays" in s.logs(), 20, "reload rejected")
            logs = s.logs()
            assert "does not compile" in logs, logs
            assert "reload done" not in logs, logs
            size = os.path.getsize(out)
            wait_for(lambda: os.path.getsize(out) > size, 20, "records keep flowing")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()


def test_topology_mismatch_is_counted_and_warned_once():
    with TempDir() as d:
        cfg = write(d, "topo.toml", TOPOLOGY.replace("{topology}", 'topology = "wan"'))
        fixture = write(d, "in.ndjson", '{"a":1}\n{"a":2}\n')
        p = run(["test", "-c", cfg, "--input", fixture, "--origin", "only/two"])
        err = p.stderr.decode()
        assert p.returncode == 0, err
        assert err.count("does not fit the topology") == 1, err
        assert "only/two" in err and "realm/network/gateway/node" in err, err
        p = run(["test", "-c", cfg, "--input", fixture, "--origin", "r/n/g/node1"])
        assert "does not fit" not in p.stderr.decode(), p.stderr.decode()
        assert all(r["tags"]["node"] == "node1" for r in records(p.stdout)), p.stdout.decode()


def test_topology_mismatches_metric_while_running():
    with TempDir() as d:
        cfg = write(d, "topo.toml", TOPOLOGY.replace("{topology}", 'topology = "lan"'))
        port = free_port()

        def mismatches():
            try:
                _, text = http_get(port, "/metrics", timeout=2)
            except OSError:
                return None
            return metric_value(text, "sluice_source_topology_mismatches_total", component="p/stdin")

        with Sluice(["run", "-c", cfg, "--data-dir", d, "--http", f"127.0.0.1:{port}"], stdin=subprocess.PIPE,
                    log_path=os.path.join(d, "log")) as s:
            # stdin's origin has one level; lan wants realm/node[/slot].
            s.proc.stdin.write(b"".join(b'{"seq":%d}\n' % i for i in range(5)))
            s.proc.stdin.flush()
            wait_for(lambda: mismatches() == 5, 20, "5 mismatches counted")
            logs = s.logs()
            assert logs.count("does not fit the topology") == 1, logs
            assert "lan: realm/node[/slot]" in logs, logs
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()


def test_window_field_never_seen_is_warned():
    with TempDir() as d:
        cfg = write(d, "w.toml", WINDOW_CONFIG.replace('fields = ["value"]', 'fields = ["value", "vaule"]')
                    .replace("{out}", os.path.join(d, "x")))
        fixture = write(d, "in.txt", FIXTURE)
        p = run(["test", "-c", cfg, "--input", fixture])
        err = p.stderr.decode()
        assert p.returncode == 0, err
        assert err.count("window field 'vaule' is in none of the first") == 1, err
        assert "fields seen: value" in err, err
        assert "window field 'value'" not in err, err


def test_components_toml_snippets_validate():
    names = run(["version"]).stdout.decode().split("components:")[1].split()
    assert names, "no components"
    with TempDir() as d:
        for kind_name in names:
            kind, name = kind_name.split("/")
            p = run(["components", kind_name, "--toml"])
            snippet = p.stdout.decode()
            assert p.returncode == 0, p.stderr.decode()
            assert snippet.startswith(f"# {name} {kind}"), snippet
            text = snippet
            # Complete the pipeline around the component.
            if kind != "source" and kind != "decoder":
                text = '[[pipelines.main.sources]]\ntype = "simulate"\n' + text
            if kind != "sink":
                text += '\n[[pipelines.main.sinks]]\ntype = "stdout"\n'
            if "table = " in snippet:
                text += '\n[tables.example]\n'
            if 'type = "stream"' in snippet and kind == "source":
                text += ('\n[[pipelines.other.sources]]\ntype = "simulate"\n'
                         '[[pipelines.other.stages]]\ntype = "window"\nsize = "1m"\nlate = "stream"\n'
                         'late_stream = "example"\n[[pipelines.other.sinks]]\ntype = "stdout"\n')
            # Decoders that read a schema at start get one of their own.
            if 'descriptor_set = "example"' in text:
                # A FileDescriptorSet with one file holding a message named "example".
                message = b"\x0a\x07example"
                file = b"\x0a\x07e.proto" + b"\x22" + bytes([len(message)]) + message
                path = os.path.join(d, "example.desc")
                with open(path, "wb") as f:
                    f.write(b"\x0a" + bytes([len(file)]) + file)
                text = text.replace('descriptor_set = "example"', f'descriptor_set = "{path}"')
            if 'type = "avro" }' in text:
                path = os.path.join(d, "example.avsc")
                with open(path, "w") as f:
                    f.write('{"type": "record", "name": "example", "fields": [{"name": "v", "type": "long"}]}')
                text = text.replace('type = "avro" }', f'type = "avro", schema = "{path}" }}')
            cfg = write(d, f"{kind}-{name}.toml", text)
            v = run(["validate", cfg])
            assert v.returncode == 0, f"{kind_name}:\n{text}\n{v.stderr.decode()}"
            # Optional options are there, commented, with their defaults.
            assert "\n# " in snippet, snippet


if __name__ == "__main__":
    main([test_windows_close_at_end_and_sinks_are_captured, test_expect_match_mismatch_and_unordered,
          test_time_can_be_ignored, test_config_errors_exit_2, test_validate_runs_build_time_checks,
          test_reload_failing_at_build_time_keeps_running, test_topology_mismatch_is_counted_and_warned_once,
          test_topology_mismatches_metric_while_running,
          test_window_field_never_seen_is_warned, test_components_toml_snippets_validate])
