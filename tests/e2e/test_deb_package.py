"""The .deb package: cpack builds it from the already built tree into a
temporary directory; `dpkg-deb -I` and `-c` must show the architecture, the
conffile, the files of the install layout and maintainer scripts that never
enable or start the service; `lintian` must report no errors (its warnings
are printed)."""

import os
import platform
import re
import shutil
import subprocess
import sys

from harness import TempDir, main

BUILD_DIR = os.environ.get("SLUICE_BUILD_DIR", "")
CPACK = os.environ.get("CPACK_COMMAND", "cpack")
PREFIX = os.environ.get("SLUICE_INSTALL_PREFIX", "/usr")
ARCH = os.environ.get("SLUICE_DEB_ARCHITECTURE", "")
VERSION = os.environ.get("SLUICE_VERSION", "")
STATIC = os.environ.get("SLUICE_STATIC", "OFF").upper() in ("ON", "1", "TRUE", "YES")

EXPECTED_FILES = {
    "./usr/bin/sluice": "-rwxr-xr-x",
    "./etc/sluice/sluice.toml": "-rw-r--r--",
    "./lib/systemd/system/sluice.service": "-rw-r--r--",
    "./usr/lib/sysusers.d/sluice.conf": "-rw-r--r--",
    "./usr/share/doc/sluice/README.md": "-rw-r--r--",
    "./usr/share/doc/sluice/copyright": "-rw-r--r--",
    "./usr/share/doc/sluice/changelog.Debian.gz": "-rw-r--r--",
}


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    return r


def build_deb(d):
    r = sh([CPACK, "-G", "DEB", "-B", d, "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake")])
    assert r.returncode == 0, r.stdout + r.stderr
    debs = [f for f in os.listdir(d) if f.endswith(".deb")]
    assert len(debs) == 1, (debs, r.stdout)
    return os.path.join(d, debs[0])


def control_file(deb, name):
    r = sh(["dpkg-deb", "-I", deb, name])
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_package_contents_and_lintian():
    with TempDir() as d:
        deb = build_deb(d)
        print(os.path.basename(deb))
        assert os.path.basename(deb) == f"sluice_{VERSION}-1_{ARCH}.deb", deb

        info = sh(["dpkg-deb", "-I", deb])
        assert info.returncode == 0, info.stderr
        print(info.stdout)
        fields = dict(re.findall(r"^ ([A-Z][A-Za-z-]+): (.*)$", info.stdout, re.M))
        assert fields.get("Package") == "sluice", fields
        assert fields.get("Version") == f"{VERSION}-1", fields
        assert fields.get("Architecture") == ARCH, fields
        depends = [p.strip() for p in fields.get("Depends", "").split(",")]
        assert "systemd" in depends, depends
        if STATIC:
            assert depends == ["systemd"], f"a static binary needs no libraries: {depends}"
        else:
            assert any(p.startswith("libc6") for p in depends), f"shlibdeps found no libc6: {depends}"

        assert control_file(deb, "conffiles").split() == ["/etc/sluice/sluice.toml"]

        listing = sh(["dpkg-deb", "-c", deb])
        assert listing.returncode == 0, listing.stderr
        modes = {}
        for line in listing.stdout.splitlines():
            parts = line.split()
            modes[parts[-1]] = (parts[0], parts[1])
        for path, mode in EXPECTED_FILES.items():
            assert path in modes, f"{path} not in the package:\n{listing.stdout}"
            assert modes[path] == (mode, "root/root"), (path, modes[path])
        assert all(owner == "root/root" for _, owner in modes.values())

        # Maintainer scripts: valid sh; the service is neither enabled nor
        # started by the package, and stopped only when removed.
        for script in ("postinst", "prerm", "postrm"):
            text = control_file(deb, script)
            r = sh(["sh", "-n"], input=text)
            assert r.returncode == 0, f"{script}: {r.stderr}"
            code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
            assert not re.search(r"\b(enable|start|restart|reload-or-restart|try-restart|preset)\b", code), \
                f"{script} enables or starts the service:\n{text}"
        postinst = control_file(deb, "postinst")
        assert "systemd-sysusers /usr/lib/sysusers.d/sluice.conf" in postinst
        assert re.search(r'"\$1" = "remove".*\n\s+deb-systemd-invoke stop sluice\.service', control_file(deb, "prerm"))

        # The packaged binary runs (where this machine can run it).
        if ARCH == {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine()):
            root = os.path.join(d, "x")
            assert sh(["dpkg-deb", "-x", deb, root]).returncode == 0
            r = sh([os.path.join(root, "usr/bin/sluice"), "version"])
            assert r.returncode == 0 and r.stdout.startswith(f"sluice {VERSION}"), r.stdout + r.stderr

        lint = sh(["lintian", "--tag-display-limit", "0", deb])
        output = (lint.stdout + lint.stderr).strip()
        print("lintian:\n" + output)
        errors = [line for line in output.splitlines() if line.startswith("E:")]
        assert not errors, "lintian errors:\n" + "\n".join(errors)


if __name__ == "__main__":
    if not BUILD_DIR:
        print("SLUICE_BUILD_DIR must name the build tree", file=sys.stderr)
        sys.exit(2)
    if PREFIX != "/usr":
        print(f"skipped: the build tree installs to {PREFIX}; packages are built with "
              "-DCMAKE_INSTALL_PREFIX=/usr (the default of a new tree)")
        sys.exit(77)
    missing = [t for t in ("dpkg-deb", "lintian") if shutil.which(t) is None]
    if missing:
        print(f"{' and '.join(missing)} not found: run firmware-gw/install-deps", file=sys.stderr)
        sys.exit(1)
    main([test_package_contents_and_lintian])
