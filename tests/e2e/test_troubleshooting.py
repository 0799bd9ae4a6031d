"""docs/guide/troubleshooting.md quotes log lines as a user sees them: each
line of its ```log blocks must be one sluice can print, that is, match the
format string of one of the log calls in src/ (its {} placeholders filled
with anything)."""

import os
import re

from harness import SOURCE_DIR, log_formats, main

PAGE = os.path.join(SOURCE_DIR, "docs", "guide", "troubleshooting.md")
LEVEL = re.compile(r"^(ERROR|WARN|INFO|DEBUG)\s+")


def formats():
    """A regular expression per log format string with some text of its own."""
    out = []
    for _, fmt in log_formats():
        literal = re.sub(r"\{[^}]*\}", "", fmt)
        if len(literal.strip(" :;,.()")) < 8:
            continue  # "{}" and the like match anything
        parts = re.split(r"\{[^}]*\}", fmt)
        out.append((fmt, re.compile(".+?".join(re.escape(p) for p in parts) + r"\Z", re.S)))
    return out


def quoted_lines():
    with open(PAGE) as f:
        text = f.read()
    for block in re.findall(r"^```log\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            if line.strip():
                yield line


def test_every_quoted_log_line_is_one_sluice_prints():
    known = formats()
    assert len(known) > 150, len(known)
    lines = list(quoted_lines())
    assert len(lines) >= 8, lines
    unknown = []
    for line in lines:
        m = LEVEL.match(line)
        assert m, f"a log line starts with its level: {line}"
        message = line[m.end():]
        if not any(rx.match(message) for _, rx in known):
            unknown.append(message)
    assert not unknown, "no log call prints:\n" + "\n".join(unknown)


if __name__ == "__main__":
    main([test_every_quoted_log_line_is_one_sluice_prints])
