"""The installed systemd unit: `cmake --install` into a temporary DESTDIR,
then `systemd-analyze verify` must accept the unit (and the IIO drop-in) and
`systemd-analyze security --offline` must rate its exposure at most
MAX_EXPOSURE (lower is better). No systemd needs to run: both work on a root
directory, which gets the host's target units and a stand-in /bin/kill so
that verify can follow the unit's dependencies and commands."""

import glob
import os
import re
import shutil
import subprocess
import sys

from harness import TempDir, main, run

BUILD_DIR = os.environ.get("SLUICE_BUILD_DIR", "")
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")
PREFIX = os.environ.get("SLUICE_INSTALL_PREFIX", "/usr")
SOURCE_DIR = os.environ.get("SLUICE_SOURCE_DIR", "")
# Measured 1.1 with systemd 252 (Debian 12); the IIO drop-in gives 1.6.
MAX_EXPOSURE = 1.5
MAX_EXPOSURE_IIO = 2.0


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)


def install_root(d):
    root = os.path.join(d, "root")
    r = sh([CMAKE, "--install", BUILD_DIR], env=dict(os.environ, DESTDIR=root))
    assert r.returncode == 0, r.stdout + r.stderr
    # What verify resolves outside the unit: the targets it is ordered
    # against, and the ExecReload= command.
    units = os.path.join(root, "usr/lib/systemd/system")
    os.makedirs(units, exist_ok=True)
    for target in glob.glob("/usr/lib/systemd/system/*.target") + glob.glob("/lib/systemd/system/*.target"):
        dest = os.path.join(units, os.path.basename(target))
        if not os.path.exists(dest):
            shutil.copy(target, dest)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    kill = os.path.join(root, "bin/kill")
    if not os.path.exists(kill):
        with open(kill, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(kill, 0o755)
    return root


def verify(root):
    r = sh(["systemd-analyze", "verify", f"--root={root}", "sluice.service"])
    # verify exits 0 on unknown keys and bad values too, and only says so on
    # stderr: any word from it is a finding.
    assert r.returncode == 0 and not r.stderr.strip() and not r.stdout.strip(), \
        f"systemd-analyze verify (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def exposure(root):
    r = sh(["systemd-analyze", "security", "--offline=true", f"--root={root}", "--no-pager", "sluice.service"])
    out = r.stdout + r.stderr
    m = re.search(r"Overall exposure level for sluice\.service: (\d+(?:\.\d+)?)", out)
    assert m, f"no exposure level in:\n{out}"
    findings = [line for line in out.splitlines() if line.startswith("✗")]
    return float(m.group(1)), findings


def test_install_layout():
    with TempDir() as d:
        root = install_root(d)
        for path in ["usr/bin/sluice", "etc/sluice/sluice.toml", "lib/systemd/system/sluice.service",
                     "usr/lib/sysusers.d/sluice.conf", "usr/share/doc/sluice/README.md",
                     "usr/share/doc/sluice/copyright", "usr/share/doc/sluice/changelog.Debian.gz",
                     "usr/share/doc/sluice/examples/sluice.service.d/iio.conf"]:
            assert os.path.exists(os.path.join(root, path)), f"{path} not installed"
        # The configuration the service starts with is valid as shipped.
        r = run(["validate", "-c", os.path.join(root, "etc/sluice/sluice.toml")])
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
        with open(os.path.join(root, "usr/lib/sysusers.d/sluice.conf")) as f:
            assert re.search(r"^u sluice ", f.read(), re.M)


def test_unit_verifies_and_is_hardened():
    with TempDir() as d:
        root = install_root(d)
        unit = os.path.join(root, "lib/systemd/system/sluice.service")
        with open(unit) as f:
            text = f.read()
        for line in ["Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=on-failure",
                     "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=sluice", "ConfigurationDirectory=sluice",
                     "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes",
                     "CapabilityBoundingSet=\n", "ExecStart=/usr/bin/sluice run --config /etc/sluice/sluice.toml"]:
            assert line in text, f"{line!r} missing from the unit"
        assert re.search(r"^MemoryMax=\S+$", text, re.M), "MemoryMax= missing"
        verify(root)
        score, findings = exposure(root)
        print(f"systemd-analyze security: {score} (threshold {MAX_EXPOSURE})")
        print("\n".join(findings))
        assert score <= MAX_EXPOSURE, f"exposure {score} above {MAX_EXPOSURE}"

        # The documented drop-in for IIO sensors and serial ports.
        dropin = os.path.join(root, "etc/systemd/system/sluice.service.d")
        os.makedirs(dropin)
        shutil.copy(os.path.join(SOURCE_DIR, "firmware-gw/sluice-iio.conf"), os.path.join(dropin, "iio.conf"))
        verify(root)
        score, _ = exposure(root)
        print(f"systemd-analyze security with the IIO drop-in: {score} (threshold {MAX_EXPOSURE_IIO})")
        assert score <= MAX_EXPOSURE_IIO


if __name__ == "__main__":
    if not BUILD_DIR:
        print("SLUICE_BUILD_DIR must name the build tree", file=sys.stderr)
        sys.exit(2)
    if PREFIX != "/usr":
        print(f"skipped: the build tree installs to {PREFIX}; the service layout is checked for "
              "-DCMAKE_INSTALL_PREFIX=/usr (the default of a new tree)")
        sys.exit(77)
    if shutil.which("systemd-analyze") is None:
        print("systemd-analyze not found: run firmware-gw/install-deps", file=sys.stderr)
        sys.exit(1)
    main([test_install_layout, test_unit_verifies_and_is_hardened])
