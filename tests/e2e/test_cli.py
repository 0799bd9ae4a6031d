"""The CLI as a user meets it: validate, describe, components, the embedded
default config with its HTTP API, signals and reload."""

import base64
import glob
import os
import shutil
import signal
import subprocess

import readme_options
from harness import SLUICE, SOURCE_DIR, Sluice, TempDir, free_port, http_get, main, metric_value, run, wait_for


def test_every_example_config_validates():
    examples = sorted(glob.glob(os.path.join(SOURCE_DIR, "config", "examples", "*.toml")))
    assert examples, "no example configs"
    with TempDir() as creds:
        # As systemd's LoadCredential= gives them (config/examples/privacy.toml).
        with open(os.path.join(creds, "sluice-master-key"), "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode())
        for path in examples:
            p = run(["validate", "-c", path], env={"CREDENTIALS_DIRECTORY": creds})
            assert p.returncode == 0, f"{path}: {p.stderr.decode()}"


def test_misspelt_key_names_file_line_and_suggestion():
    with TempDir() as d:
        cfg = os.path.join(d, "bad.toml")
        with open(cfg, "w") as f:
            f.write('[[pipelines.p.sources]]\ntype = "stdin"\n\n[[pipelines.p.sinks]]\ntype = "file"\npaht = "/tmp/x"\n')
        p = run(["validate", "-c", cfg])
        err = p.stderr.decode()
        assert p.returncode == 2, err
        assert f"{cfg}:6:" in err, err
        assert "paht" in err and "did you mean 'path'" in err, err


def test_usage_errors_name_the_problem():
    # An unknown command is named, with the list of commands.
    p = run(["frobnicate"])
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr.decode(), p.stderr.decode()
    p = run(["valdate"])
    assert p.returncode == 2 and "did you mean 'validate'" in p.stderr.decode(), p.stderr.decode()
    # Empty values are usage errors, not "use the default" (the embedded
    # config, /var/lib/sluice).
    for args in (["run", "-e", ""], ["run", "-c", ""], ["run", "--data-dir", "", "-e", "stdin ! stdout"],
                 ["buffer", "stats", "--data-dir", ""]):
        p = run(args, input=b"")
        assert p.returncode == 2 and "must not be empty" in p.stderr.decode(), (args, p.stderr.decode())
    # `validate FILE` is `validate -c FILE`; both at once is an error.
    example = os.path.join(SOURCE_DIR, "config", "examples", "default.toml")
    p = run(["validate", example])
    assert p.returncode == 0 and "ok" in p.stdout.decode(), p.stderr.decode()
    p = run(["validate", "-c", example, example])
    assert p.returncode == 2, p.stderr.decode()


def test_misspelt_component_in_pipeline_string():
    p = run(["validate", "-e", "stdin ! decode chian=json ! stdout"])
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "-e:1:" in err and "did you mean 'chain'" in err, err
    p = run(["validate", "-e", "stdin ! stdot"])
    assert p.returncode == 2 and "did you mean 'stdout'" in p.stderr.decode(), p.stderr.decode()


def test_describe_dot_renders_with_graphviz():
    if not shutil.which("dot"):
        raise AssertionError("graphviz 'dot' is not installed (firmware-gw/install-deps installs it)")
    for args in (["describe", "--format", "dot"], ["describe", "--format", "dot", "-c",
                                                    os.path.join(SOURCE_DIR, "config/examples/file-to-file.toml")]):
        p = run(args)
        assert p.returncode == 0, p.stderr.decode()
        svg = subprocess.run(["dot", "-Tsvg"], input=p.stdout, capture_output=True, timeout=30)
        assert svg.returncode == 0 and b"<svg" in svg.stdout, svg.stderr.decode()
    p = run(["describe", "--format", "json"])
    assert p.returncode == 0 and b'"pipelines"' in p.stdout


def test_config_reference_is_in_sync():
    p = run(["components", "--markdown"])
    assert p.returncode == 0
    with open(os.path.join(SOURCE_DIR, "docs", "config-reference.md"), "rb") as f:
        committed = f.read()
    assert p.stdout == committed, ("docs/config-reference.md is stale: regenerate it with "
                                   "`sluice components --markdown > docs/config-reference.md`")


def _cli_delivery():
    """(kind, name) -> delivery of every source and sink, as `sluice components` lists them."""
    p = run(["components"])
    assert p.returncode == 0, p.stderr.decode()
    out, kind = {}, None
    for line in p.stdout.decode().splitlines():
        if not line.startswith(" "):
            kind = line.rstrip(":").rstrip("s")
        elif kind in ("source", "sink"):
            name, delivery = line.split()[:2]
            out[(kind, name)] = delivery
    return out


def test_architecture_delivery_table_matches_descriptors():
    with open(os.path.join(SOURCE_DIR, "docs", "architecture.md")) as f:
        rows = [line.split("|")[1:-1] for line in f if line.startswith("| source") or line.startswith("| sink")]
    documented = {}
    for who, delivery, _ in ([c.strip() for c in r] for r in rows):
        kind = who.split()[0].rstrip("s")
        for name in who.split("`")[1::2]:
            documented[(kind, name)] = delivery
    assert documented == _cli_delivery(), (
        "the delivery table in docs/architecture.md differs from the descriptors (`sluice components`): "
        f"{sorted(set(documented.items()) ^ set(_cli_delivery().items()))}")


def test_component_readmes_are_in_sync():
    stale = []
    for kind, name in readme_options.components(SLUICE):
        with open(readme_options.readme_path(SOURCE_DIR, kind, name)) as f:
            written = readme_options.current(f.read(), kind, name)
        if written != readme_options.block(SLUICE, kind, name):
            stale.append(f"src/{kind}s/{name}/README.md")
    assert not stale, (f"the option tables of {', '.join(stale)} differ from the descriptors: regenerate them with "
                       f"`{readme_options.REGENERATE}`")


def test_components_documents_one():
    p = run(["components", "file"])
    assert p.returncode == 0 and b"path" in p.stdout and b"file://" in p.stdout, p.stdout
    p = run(["components", "fiel"])
    assert p.returncode == 2 and b"did you mean 'file'" in p.stderr


def test_default_config_runs_and_metrics_rise():
    with TempDir() as d:
        port = free_port()
        # HOME points into the temp dir so no /etc/sluice/sluice.toml on the machine matters.
        with Sluice(["run", "--data-dir", d, "--http", f"127.0.0.1:{port}"], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: _get(port, "/health"), 20, "/health")
            assert "embedded default config" in s.logs().splitlines()[0], s.logs()

            def counters():
                text = _get(port, "/metrics")
                if not text:
                    return None
                r = metric_value(text, "sluice_component_received_records_total", kind="source")
                sent = metric_value(text, "sluice_component_sent_records_total", kind="sink")
                return (r, sent) if r and sent else None

            first = wait_for(counters, 20, "received and sent counters")
            wait_for(lambda: (c := counters()) and c[0] > first[0] and c[1] > first[1], 20, "counters rising")
            text = _get(port, "/metrics")
            for name in ("sluice_buffer_rows", "sluice_ingest_queue_frames", "process_resident_memory_bytes",
                         "sluice_decoder_frames_total"):
                assert name in text, name
            status, body = http_get(port, "/ready")
            assert status == 200, body
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()


def test_reload_keeps_old_config_when_new_is_wrong():
    with TempDir() as d:
        cfg = os.path.join(d, "sluice.toml")
        out1, out2 = os.path.join(d, "one.ndjson"), os.path.join(d, "two.ndjson")

        def write(out, extra=""):
            with open(cfg, "w") as f:
                f.write(f'[[pipelines.p.sources]]\ntype = "simulate"\nrate = 50\n{extra}\n'
                        f'[[pipelines.p.sinks]]\ntype = "file"\npath = "{out}"\nfsync = false\n')

        write(out1)
        with Sluice(["run", "-c", cfg, "--data-dir", d, "--http", "off"], log_path=os.path.join(d, "log")) as s:
            wait_for(lambda: os.path.exists(out1) and os.path.getsize(out1) > 0, 20, "first output")
            write(out2, extra="rate_typo = 3")
            s.signal(signal.SIGHUP)
            wait_for(lambda: "reload rejected" in s.logs(), 20, "reload rejected")
            assert "rate_typo" in s.logs()
            size = os.path.getsize(out1)
            wait_for(lambda: os.path.getsize(out1) > size, 20, "old pipeline still running")
            write(out2)
            s.signal(signal.SIGHUP)
            wait_for(lambda: os.path.exists(out2) and os.path.getsize(out2) > 0, 20, "reloaded pipeline writes")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0, s.logs()


def test_relay_file_to_file():
    with TempDir() as d:
        inp, out = os.path.join(d, "in.log"), os.path.join(d, "out.ndjson")
        with open(inp, "w") as f:
            f.write('{"a":1}\n{"a":2}\n')
        with Sluice(["relay", f"file://{inp}?decode=json", f"file://{out}", "--data-dir", d, "--http", "off"]) as s:
            wait_for(lambda: os.path.exists(out) and open(out).read().count("\n") == 2, 20, "relayed lines")
            s.signal(signal.SIGTERM)
            assert s.wait(20) == 0


def _get(port, path):
    try:
        status, body = http_get(port, path, timeout=2)
        return body if status == 200 else None
    except OSError:
        return None


def test_config_prints_the_embedded_default():
    p = run(["config"])
    assert p.returncode == 0, p.stderr.decode()
    text = p.stdout.decode()
    assert "[pipelines." in text, text
    with TempDir() as d:
        path = os.path.join(d, "default.toml")
        with open(path, "w") as f:
            f.write(text)
        v = run(["validate", path])
        assert v.returncode == 0, v.stderr.decode() + v.stdout.decode()


if __name__ == "__main__":
    main([test_every_example_config_validates, test_misspelt_key_names_file_line_and_suggestion,
          test_misspelt_component_in_pipeline_string, test_describe_dot_renders_with_graphviz,
          test_config_reference_is_in_sync, test_component_readmes_are_in_sync,
          test_architecture_delivery_table_matches_descriptors,
          test_components_documents_one, test_default_config_runs_and_metrics_rise,
          test_reload_keeps_old_config_when_new_is_wrong, test_relay_file_to_file,
          test_usage_errors_name_the_problem, test_config_prints_the_embedded_default])
