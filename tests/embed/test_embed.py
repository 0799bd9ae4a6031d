"""libsluice from the outside: installs the library component of this build
into a fresh prefix, builds the example program (tests/embed/example.cpp)
against that installed package only (find_package(sluice), and separately
through pkg-config), and runs it: callback source -> tumbling window ->
callback sink. Then kills it with SIGKILL while it pushes, and shows that
after a restart every window of the readings whose push had returned
Committed reaches the sink, with every one of those readings in it.

Needs SLUICE_BUILD_DIR (the build tree to install from).
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import main, skip, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")
BUILD = os.environ.get("SLUICE_BUILD_DIR", "")
PER_WINDOW = 10  # readings per window: 100 ms apart, one-second windows

_installed = {}


def installed_prefix():
    """The library component of this build, installed once per run."""
    if "prefix" not in _installed:
        if not BUILD or not os.path.isdir(BUILD):
            skip("SLUICE_BUILD_DIR does not name a build tree")
        tmp = tempfile.mkdtemp(prefix="sluice-embed-")
        prefix = os.path.join(tmp, "prefix")
        subprocess.run([CMAKE, "--install", BUILD, "--component", "library", "--prefix", prefix],
                       check=True, capture_output=True, text=True, timeout=300)
        _installed.update(tmp=tmp, prefix=prefix)
    return _installed["prefix"]


def built_example():
    """The example, configured and built against the installed package."""
    if "exe" not in _installed:
        prefix = installed_prefix()
        build = os.path.join(_installed["tmp"], "build")
        env = dict(os.environ)
        env.pop("CMAKE_PREFIX_PATH", None)
        subprocess.run([CMAKE, "-S", HERE, "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}",
                        "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"],
                       check=True, capture_output=True, text=True, timeout=300, env=env)
        subprocess.run([CMAKE, "--build", build], check=True, capture_output=True, text=True, timeout=600,
                       env=env)
        _installed["exe"] = os.path.join(build, "sluice-embed-example")
    return _installed["exe"]


def windows(path):
    """{window start: (count, sum)} from the example's output; a window the
    sink got twice (at-least-once after a crash) must be the same twice."""
    seen = {}
    with open(path) as f:
        for line in f:
            start, count, total = (int(x) for x in line.split())
            if start in seen:
                assert seen[start] == (count, total), f"window {start} came twice, differently"
            seen[start] = (count, total)
    return seen


def acked(path):
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def check_windows(out, last):
    """Every window of readings 0..last: whole windows exactly, the last one
    with at least the acknowledged readings (more were maybe committed while
    their push was cut off)."""
    got = windows(out)
    starts = sorted(got)
    assert len(starts) >= last // PER_WINDOW + 1, f"{len(starts)} windows for {last + 1} readings"
    for k in range(last // PER_WINDOW + 1):
        count, total = got[starts[k]]
        first = k * PER_WINDOW
        if first + PER_WINDOW - 1 <= last:
            assert (count, total) == (PER_WINDOW, sum(range(first, first + PER_WINDOW))), \
                f"window {k}: {count} readings, sum {total}"
        else:
            assert last - first + 1 <= count <= PER_WINDOW, f"last window {k}: {count} readings"
            assert total >= sum(range(first, last + 1)), f"last window {k}: sum {total}"
    if starts:
        assert starts[1:] == [starts[0] + i * 1_000_000_000 for i in range(1, len(starts))], "a window is missing"


def run_example(exe, d, *args, timeout=120):
    p = subprocess.run([exe, os.path.join(d, "data"), os.path.join(d, "out"), os.path.join(d, "acked"), *args],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"example {' '.join(args)} exited {p.returncode}: {p.stderr[-2000:]}"
    return p.stdout


def libdir():
    """lib, or lib/<multiarch> when the build was configured for /usr."""
    prefix = installed_prefix()
    for d, _, files in os.walk(prefix):
        if "libsluice.a" in files:
            return d
    raise AssertionError(f"no libsluice.a under {prefix}")


def test_installed_package_layout():
    prefix = installed_prefix()
    lib = os.path.relpath(libdir(), prefix)
    assert lib.startswith("lib"), lib
    for rel in ("include/sluice/sluice.hpp", f"{lib}/cmake/sluice/sluice-config.cmake",
                f"{lib}/cmake/sluice/sluice-config-version.cmake", f"{lib}/pkgconfig/sluice.pc"):
        assert os.path.isfile(os.path.join(prefix, rel)), f"{rel} is not installed"
    # The public header names no internal header.
    with open(os.path.join(prefix, "include/sluice/sluice.hpp")) as f:
        includes = [line for line in f if line.startswith("#include")]
    assert all("<" in line and '"' not in line for line in includes), includes


def test_callback_source_window_callback_sink():
    exe = built_example()
    with tempfile.TemporaryDirectory(prefix="sluice-embed-run-") as d:
        out = run_example(exe, d, "run", "1000")
        assert acked(os.path.join(d, "acked")) == list(range(1000))
        got = windows(os.path.join(d, "out"))
        assert len(got) == 100, f"{len(got)} windows"
        check_windows(os.path.join(d, "out"), 999)
        assert "records in 100," in out, out  # the windows committed (the readings live in the window's state)


def test_sigkill_loses_nothing_confirmed():
    exe = built_example()
    with tempfile.TemporaryDirectory(prefix="sluice-embed-kill-") as d:
        acked_path, out_path = os.path.join(d, "acked"), os.path.join(d, "out")
        log_path = os.path.join(d, "stderr")
        log = open(log_path, "w")
        p = subprocess.Popen([exe, os.path.join(d, "data"), out_path, acked_path, "produce"],
                             stdout=subprocess.DEVNULL, stderr=log)
        try:
            target = random.randint(200, 1500)

            def far_enough():
                if p.poll() is not None:
                    with open(log_path) as f:
                        raise AssertionError(f"the example exited {p.returncode}: {f.read()[-2000:]}")
                if not os.path.exists(out_path) or os.path.getsize(out_path) == 0:
                    return False
                with open(acked_path, "rb") as f:
                    return f.read().count(b"\n") >= target
            wait_for(far_enough, 180, f"the example to push {target} readings and deliver")
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
            log.close()
        last = acked(acked_path)[-1]
        assert acked(acked_path) == list(range(last + 1))
        run_example(exe, d, "drain")
        check_windows(out_path, last)


def test_pkg_config_build():
    if shutil.which("pkg-config") is None:
        skip("pkg-config is not installed")
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir(), "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sluice"], check=True, capture_output=True,
                           text=True, env=env).stdout.split()
    exe = os.path.join(_installed["tmp"], "example-pkg-config")
    cxx = os.environ.get("CXX", "c++")
    subprocess.run([cxx, "-std=c++20", "-O1", os.path.join(HERE, "example.cpp"), "-o", exe, *flags],
                   check=True, capture_output=True, text=True, timeout=600)
    with tempfile.TemporaryDirectory(prefix="sluice-embed-pc-") as d:
        run_example(exe, d, "run", "200")
        check_windows(os.path.join(d, "out"), 199)


if __name__ == "__main__":
    try:
        main([test_installed_package_layout, test_callback_source_window_callback_sink,
              test_sigkill_loses_nothing_confirmed, test_pkg_config_build])
    finally:
        if "tmp" in _installed:
            shutil.rmtree(_installed["tmp"], ignore_errors=True)
