"""The docs as a newcomer uses them: every TOML snippet in the README, docs/
and the component READMEs is a configuration `sluice validate` accepts, and
every link between the docs leads somewhere.

Snippets may be parts of a configuration: a pipeline's sink alone, a table,
a buffer section. Each is completed as a user would paste it into a working
file (a `stdin` source and a `stdout` sink for a pipeline that has none, a
pipeline for a snippet that has none) and validated. Paths under
/etc/sluice/ are read from a scratch directory instead, where the snippet's
files are made (secret files, CSV tables); `@credential:NAME` secrets come
from a scratch $CREDENTIALS_DIRECTORY. A snippet that cannot be made whole
this way says so in an HTML comment on the line before its fence:

    <!-- doc-test: skip: the reason -->
"""

import base64
import glob
import os
import re
import subprocess
import tomllib

from harness import SLUICE, SOURCE_DIR, TempDir, main

FENCE = re.compile(r"^```toml\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!--\s*doc-test:\s*skip:\s*(.+?)\s*-->\s*$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def doc_files():
    files = [os.path.join(SOURCE_DIR, "README.md")]
    files += sorted(glob.glob(os.path.join(SOURCE_DIR, "docs", "**", "*.md"), recursive=True))
    files += sorted(glob.glob(os.path.join(SOURCE_DIR, "src", "*", "*", "README.md")))
    files += sorted(glob.glob(os.path.join(SOURCE_DIR, "config", "**", "*.md"), recursive=True))
    return files


def rel(path):
    return os.path.relpath(path, SOURCE_DIR)


def snippets():
    """(file, line, text, skip reason or None) of every ```toml block."""
    for path in doc_files():
        with open(path) as f:
            text = f.read()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = SKIP.search(before)
            yield path, line, m.group(1), skip.group(1) if skip else None


def completed(body, parsed):
    """The snippet as a whole configuration: what it leaves out, added."""
    extra = ""
    pipelines = parsed.get("pipelines", {})
    for name, p in pipelines.items():
        if not p.get("sources"):
            extra += f'\n[[pipelines.{name}.sources]]\ntype = "stdin"\n'
        if not p.get("sinks"):
            extra += f'\n[[pipelines.{name}.sinks]]\ntype = "stdout"\n'
    if not pipelines:
        extra += '\n[[pipelines.doc.sources]]\ntype = "stdin"\n\n[[pipelines.doc.sinks]]\ntype = "stdout"\n'
    return body + extra


def length_delimited(tag, payload):
    assert len(payload) < 128
    return bytes([tag, len(payload)]) + payload


def scratch_content(path, body):
    """What a file the snippet names holds: a CSV table's header with the key
    column it uses, a protobuf descriptor set with the message it names, an
    Avro record schema, else a secret."""
    if path.endswith(".csv"):
        key = re.search(r'key_column\s*=\s*"([^"]+)"', body)
        return f"{key.group(1) if key else 'key'},value\n".encode()
    if path.endswith(".desc"):
        full = re.search(r'message\s*=\s*"([^"]+)"', body).group(1)
        package, _, name = full.rpartition(".")
        file = (length_delimited(0x0A, b"doc.proto") + length_delimited(0x12, package.encode()) +
                length_delimited(0x22, length_delimited(0x0A, name.encode())))
        return length_delimited(0x0A, file)
    if path.endswith(".avsc"):
        return b'{"type": "record", "name": "reading", "fields": [{"name": "v", "type": "double"}]}'
    return b"s3cret-token-1234\n"


def scratch_files(body, root, creds):
    """Moves /etc/sluice/ paths under `root` and makes the files a snippet
    names there, and its credentials."""
    body = body.replace("/etc/sluice/", root + "/")
    dirs = set(re.findall(r'\w+_dir\s*=\s*"(' + re.escape(root) + r'/[^"]+)"', body))
    for path in set(re.findall(re.escape(root) + r"/[\w./-]+", body)):
        if path in dirs:
            os.makedirs(path, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(scratch_content(path, body))
    for name in set(re.findall(r"@credential:([\w.-]+)", body)):
        with open(os.path.join(creds, name), "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode())
    return body


def test_toml_snippets_validate():
    failures, skipped, checked = [], [], 0
    for path, line, body, skip in snippets():
        where = f"{rel(path)}:{line}"
        if skip:
            skipped.append(f"{where} ({skip})")
            continue
        try:
            parsed = tomllib.loads(body)
        except tomllib.TOMLDecodeError as e:
            failures.append(f"{where}: not TOML: {e}")
            continue
        with TempDir() as d:
            root, creds = os.path.join(d, "etc"), os.path.join(d, "creds")
            os.makedirs(root)
            os.makedirs(creds)
            cfg = os.path.join(d, "snippet.toml")
            with open(cfg, "w") as f:
                f.write(completed(scratch_files(body, root, creds), parsed))
            env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
            p = subprocess.run([SLUICE, "validate", "-c", cfg], capture_output=True, text=True, timeout=60, env=env)
            checked += 1
            if p.returncode != 0:
                failures.append(f"{where}: {p.stderr.strip()}")
    print(f"{checked} TOML snippets validated; {len(skipped)} skipped: {'; '.join(skipped) or 'none'}")
    assert checked > 20, checked
    assert not failures, "\n".join(failures)


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    found = set()
    with open(path) as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            elif not in_code and line.startswith("#"):
                base = github_anchor(line.lstrip("#"))
                n, a = 0, base
                while a in found:
                    n += 1
                    a = f"{base}-{n}"
                found.add(a)
    return found


def test_links_between_docs_resolve():
    broken, checked = [], 0
    for path in doc_files():
        with open(path) as f:
            text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)  # not inside code blocks
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto: outside the tree
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            checked += 1
            if not os.path.exists(dest):
                broken.append(f"{rel(path)}: {target}: no {rel(dest)}")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                broken.append(f"{rel(path)}: {target}: no heading #{anchor} in {rel(dest)}")
    print(f"{checked} links checked")
    assert checked > 20, checked
    assert not broken, "\n".join(broken)


if __name__ == "__main__":
    main([test_toml_snippets_validate, test_links_between_docs_resolve])
