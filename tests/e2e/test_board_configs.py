"""Every board's default configuration (boards/*/sluice.toml) validates."""

import glob
import json
import os

from harness import SOURCE_DIR, main, run


def test_every_board_config_validates():
    files = sorted(glob.glob(os.path.join(SOURCE_DIR, "boards", "*", "sluice.toml")))
    assert len(files) >= 4, files
    for f in files:
        r = run(["validate", "-c", f])
        assert r.returncode == 0, f"{f}: {r.stderr.decode()}{r.stdout.decode()}"


def test_every_board_has_a_preset_and_readme():
    with open(os.path.join(SOURCE_DIR, "CMakePresets.json")) as f:
        presets = json.load(f)
    configure = {p["name"]: p for p in presets["configurePresets"]}
    build = {p["name"] for p in presets["buildPresets"]}
    for d in sorted(glob.glob(os.path.join(SOURCE_DIR, "boards", "*", ""))):
        board = os.path.basename(os.path.dirname(d))
        assert board in configure, f"no configure preset {board}"
        assert board in build, f"no build preset {board}"
        assert os.path.exists(os.path.join(d, "README.md")), f"{board}: no README.md"
        cache = dict(configure[board].get("cacheVariables", {}))
        assert "SLUICE_MEMORY_MAX" in cache, f"{board}: no SLUICE_MEMORY_MAX"
        assert cache.get("SLUICE_SERVICE_CONFIG", "").endswith(f"boards/{board}/sluice.toml"), board


if __name__ == "__main__":
    main([test_every_board_config_validates, test_every_board_has_a_preset_and_readme])
