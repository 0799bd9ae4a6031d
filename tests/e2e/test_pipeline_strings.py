"""docs/guide/pipeline-strings.md: every one-line pipeline in its examples
is one `sluice validate -e` accepts; together they use every source,
decoder, stage and sink of this build (those a line cannot use are named in
the text); its table of relay URL schemes lists every scheme the components
take."""

import os
import re
import subprocess

from harness import SLUICE, SOURCE_DIR, main

PAGE = os.path.join(SOURCE_DIR, "docs", "guide", "pipeline-strings.md")


def page():
    with open(PAGE) as f:
        return f.read()


def example_lines():
    text = page()
    section = text[text.index("## Every component in one line"):text.index("## Relay URLs")]
    blocks = re.findall(r"^```text\n(.*?)^```", section, re.S | re.M)
    return [line for b in blocks for line in b.splitlines() if line.strip()]


def components():
    """{kind: [names]} of this build, from `sluice components`."""
    out = subprocess.run([SLUICE, "components"], capture_output=True, text=True, check=True).stdout
    found, kind = {}, None
    for line in out.splitlines():
        if not line.startswith(" "):
            kind = line.rstrip(":").rstrip("s")
            found[kind] = []
        else:
            found[kind].append(line.split()[0])
    return found


def test_every_example_validates():
    lines = example_lines()
    assert len(lines) > 30, len(lines)
    failures = []
    for line in lines:
        p = subprocess.run([SLUICE, "validate", "-e", line], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            failures.append(f"{line}\n  {p.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_every_component_has_an_example():
    used = {"source": set(), "decoder": set(), "stage": set(), "sink": set()}
    for line in example_lines():
        elements = [e.strip().split()[0] for e in line.split(" ! ")]
        used["source"].add(elements[0])
        for e in line.split(" ! "):
            m = re.match(r"\s*decode chain=(\S+)", e)
            if m:
                used["decoder"].update(m.group(1).split(","))
        rest = [e for e in elements[1:] if e not in ("decode", "buffer", "pipeline")]
        # The sinks are the trailing run of elements; the stages come before.
        built = components()
        sinks_at = next((i for i, e in enumerate(rest) if e in built["sink"] and e not in built["stage"]), len(rest))
        used["stage"].update(rest[:sinks_at])
        used["sink"].update(rest[sinks_at:])
    text = page()
    missing = []
    for kind, names in components().items():
        for name in names:
            if name not in used[kind] and f"`{name}`" not in text:
                missing.append(f"{kind} {name}")
    assert not missing, f"no example or mention for: {missing}"


def test_relay_scheme_table_is_complete():
    text = page()
    table = text[text.index("| scheme | component |"):]
    missing = []
    for kind, names in components().items():
        for name in names:
            out = subprocess.run([SLUICE, "components", f"{kind}/{name}"], capture_output=True, text=True,
                                 check=True).stdout
            m = re.search(r"^URL schemes: (.*)$", out, re.M)
            for scheme in (m.group(1).split(", ") if m else []):
                scheme = scheme.strip()
                if f"`{scheme}`" not in table and f"`{scheme}:`" not in table:
                    missing.append(f"{scheme} ({kind} {name})")
    assert not missing, f"relay schemes not in the table: {missing}"


if __name__ == "__main__":
    main([test_every_example_validates, test_every_component_has_an_example, test_relay_scheme_table_is_complete])
