"""docs/glossary.md covers the words sluice speaks in: every term of the
project's vocabulary (kept below) has an entry, and every term its log
messages use (the format strings of log::debug/info/warn/error in src/) is
explained there, or is a well-known name listed as such below."""

import os
import re

from harness import SOURCE_DIR, log_formats, main

# sluice's own words: each needs a **bold** entry in the glossary.
VOCABULARY = [
    "frame", "origin", "record", "measurement", "tag", "field", "topology", "realm", "network", "node", "slot",
    "dead letter", "pipeline", "component", "source", "decoder", "decode chain", "stage", "sink", "ingest queue",
    "worker", "batch", "stream", "table", "window", "pane", "watermark", "allowed lateness", "late record", "state",
    "buffer", "commit", "cursor", "at-least-once", "best-effort", "exactly-once", "back-off", "retry", "overflow",
    "dropped", "retain", "replay", "quarantine", "salvage", "data directory", "gateway", "reload",
    "shutdown timeout", "watchdog", "health", "ready", "tap", "token", "secret", "credential", "template",
    "data subject", "data key", "master key", "key store", "pseudonym", "crypto-shredding", "forget", "envelope",
    "preset", "board profile", "libsluice",
]

# Names the log messages use that are not sluice's to explain: protocols,
# products, signals, standard words in capitals.
WELL_KNOWN = {
    "CPU", "HTTP", "MQTT", "SQLite", "PostgreSQL", "CrateDB", "WebSocket", "NOT", "ACL", "QoS", "SIGHUP",
    "SIGTERM", "SIGINT", "TLS", "JSON", "CSV", "WAL", "DNS", "URL", "API", "UTC", "IIO", "DATA", "BIRTH",
}

CAPITALISED = re.compile(r"\b[A-Z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*\b")


def glossary():
    with open(os.path.join(SOURCE_DIR, "docs", "glossary.md")) as f:
        return f.read()


def test_every_term_has_an_entry():
    entries = {e.lower() for e in re.findall(r"\*\*([^*]+)\*\*", glossary())}
    missing = [t for t in VOCABULARY if t not in entries]
    assert not missing, f"no glossary entry for: {missing}"


def test_log_messages_speak_glossary_terms():
    text = glossary()
    lowered = text.lower()
    used, unexplained, messages = set(), {}, 0
    for path, message in log_formats():
        messages += 1
        for term in VOCABULARY:
            if re.search(r"\b" + re.escape(term) + r"s?\b", message, re.I):
                used.add(term)
        for word in CAPITALISED.findall(message):
            if word.startswith("SLUICE_") or word in WELL_KNOWN or word.lower() in lowered:
                continue
            unexplained.setdefault(word, path)
    print(f"{messages} log messages; {len(used)} glossary terms among their words")
    assert messages > 200, messages
    assert len(used) > 30, sorted(used)
    assert not unexplained, f"terms in log messages the glossary does not explain (or list as well known): " \
                            f"{unexplained}"


if __name__ == "__main__":
    main([test_every_term_has_an_entry, test_log_messages_speak_glossary_terms])
