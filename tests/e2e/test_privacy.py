"""Personal data with the encrypt and decrypt stages and `sluice keys`: the
protected fields appear nowhere in clear (not in the output, not in the
buffer on disk), a decrypt pipeline restores them with their types,
forgetting one subject makes every earlier record of that subject
unreadable while the others still decrypt, and a wrong or missing master
key is a clear error at start-up."""

import base64
import glob
import json
import os
from harness import (Sluice, TempDir, free_port, gateway_sections, http_request, main, read_ndjson, run, wait_for,
                     wait_ready)

DRIVERS = {"drv-alice-7731": "Alice Anderson", "drv-bob-4402": "Bob Brennan", "drv-carol-1189": "Carol Castellanos"}


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def encrypt_config(d, master):
    # No API: tests run side by side, and the default port is one.
    return write(d, "encrypt.toml", f"""
[http]
listen = "off"

[pipelines.trips]
[[pipelines.trips.sources]]
type = "stdin"
decode = ["json"]
[[pipelines.trips.stages]]
type = "encrypt"
subject = "{{driver}}"
fields = ["name", "gps.*"]
pseudonymize = ["driver"]
master_key = "@{master}"
[[pipelines.trips.sinks]]
type = "file"
path = "{d}/encrypted.ndjson"
""")


def decrypt_config(d, master, store):
    return write(d, "decrypt.toml", f"""
[http]
listen = "off"

[pipelines.back]
[[pipelines.back.sources]]
type = "file"
path = "{d}/encrypted.ndjson"
decode = ["json"]
[[pipelines.back.stages]]
type = "decrypt"
master_key = "@{master}"
key_store = "{store}"
[[pipelines.back.sinks]]
type = "file"
path = "{d}/decrypted.ndjson"
""")


def trips(n):
    lines = []
    for i in range(n):
        driver = list(DRIVERS)[i % 3]
        lines.append(f'{{"driver":"{driver}","name":"{DRIVERS[driver]}","gps":{{"lat":48.13{i:04d},'
                     f'"lon":11.57{i:04d}}},"speed":{i % 90},"seq":{i}}}')
    return "\n".join(lines) + "\n"


def test_encrypt_decrypt_and_forget():
    with TempDir() as d:
        master = write(d, "master.key", base64.b64encode(os.urandom(32)).decode() + "\n")
        data = os.path.join(d, "data")
        n = 300
        p = run(["run", "-c", encrypt_config(d, master), "--data-dir", data], input=trips(n).encode())
        assert p.returncode == 0, p.stderr.decode()
        out = os.path.join(d, "encrypted.ndjson")
        records = read_ndjson(out)
        assert len(records) == n
        # Nothing in clear: names, driver ids and positions, in the output and in the buffer's files.
        secrets = list(DRIVERS) + list(DRIVERS.values()) + ["48.13", "11.57"]
        stored = [out] + glob.glob(os.path.join(data, "*.sqlite*"))
        for path in stored:
            with open(path, "rb") as f:
                raw = f.read()
            for s in secrets:
                assert s.encode() not in raw, f"{s!r} in clear in {path}"
        first = records[0]["fields"]
        assert first["name"].startswith("enc:v1:") and first["gps.lat"].startswith("enc:v1:"), first
        assert first["speed"] == 0 and first["seq"] == 0, first  # not listed: in clear
        pseudonyms = {r["fields"]["driver"] for r in records}
        assert len(pseudonyms) == 3 and not pseudonyms & set(DRIVERS), pseudonyms

        keys_args = ["--data-dir", data, "--master-key", "@" + master]
        listed = run(["keys", "list", *keys_args])
        assert listed.returncode == 0 and len(listed.stdout.decode().splitlines()) == 3, listed
        forgot = run(["keys", "forget", "drv-alice-7731", *keys_args, "--by", "dpo@example.org"])
        assert forgot.returncode == 0, forgot.stderr.decode()
        again = run(["keys", "forget", "drv-alice-7731", *keys_args])
        assert again.returncode == 1, again
        audit = run(["keys", "forgotten", *keys_args]).stdout.decode()
        assert "dpo@example.org" in audit and "drv-alice" not in audit, audit

        store = os.path.join(data, "keys.db")
        cfg = decrypt_config(d, master, store)
        p = run(["test", "-c", cfg, "--input", out], timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        back = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
        assert len(back) == n, len(back)
        forgotten = [r for r in back if r["fields"]["fields.name"] == "[forgotten]"]
        readable = [r for r in back if r["fields"]["fields.name"] != "[forgotten]"]
        assert len(forgotten) == n // 3, len(forgotten)
        assert all(r["fields"]["fields.gps.lat"] == "[forgotten]" for r in forgotten)
        for r in readable:
            f = r["fields"]
            seq = f["fields.seq"]
            assert f["fields.name"] == list(DRIVERS.values())[seq % 3], f
            assert f["fields.gps.lat"] == float(f"48.13{seq:04d}"), f  # a double again
        assert {r["fields"]["fields.name"] for r in readable} == {"Bob Brennan", "Carol Castellanos"}

        # The master key rotated: the same values read with the new key, the old one refused.
        new_master = write(d, "new.key", base64.b64encode(os.urandom(32)).decode())
        p = run(["keys", "rotate", *keys_args, "--new-master-key", "@" + new_master])
        assert p.returncode == 0 and "2 data keys" in p.stdout.decode(), p
        p = run(["test", "-c", decrypt_config(d, new_master, store), "--input", out])
        assert p.returncode == 0, p.stderr.decode()
        rotated = [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]
        assert [r["fields"] for r in rotated] == [r["fields"] for r in back]
        p = run(["keys", "list", *keys_args])
        assert p.returncode == 2 and "another master key" in p.stderr.decode(), p

        # Another master key: refused at start-up, naming the store.
        wrong = write(d, "wrong.key", base64.b64encode(os.urandom(32)).decode())
        p = run(["test", "-c", decrypt_config(d, wrong, store), "--input", out])
        assert p.returncode != 0
        assert "was made with another master key" in p.stderr.decode(), p.stderr.decode()
        # A master key that is not one: the reason, and how to make one.
        short = write(d, "short.key", "not a key")
        p = run(["test", "-c", decrypt_config(d, short, store), "--input", out])
        assert p.returncode != 0 and "a key is 32 bytes" in p.stderr.decode(), p.stderr.decode()
        # No master key file: a configuration error naming file, line and key.
        p = run(["validate", "-c", decrypt_config(d, os.path.join(d, "missing.key"), store)])
        err = p.stderr.decode() + p.stdout.decode()
        assert p.returncode == 2 and "decrypt.toml:" in err and "master_key" in err, err


def request(port, method, path, body=None, token=None):
    return http_request(port, method, path, body, token, "application/x-ndjson" if body is not None else None)


def test_forget_over_api():
    """DELETE /api/keys/<subject> on a running gateway: token required, the
    subject never in the log or the answer, its earlier values unreadable,
    its later ones under a new key, the other subjects untouched."""
    token = "keys-secret"
    with TempDir() as d:
        master = write(d, "master.key", base64.b64encode(os.urandom(32)).decode() + "\n")
        port = free_port()
        out = os.path.join(d, "encrypted.ndjson")
        cfg = write(d, "api.toml", f"""
{gateway_sections(d, port, token)}
[pipelines.trips]
[[pipelines.trips.sources]]
type = "http"
decode = ["json"]
[[pipelines.trips.stages]]
type = "encrypt"
subject = "{{driver}}"
fields = ["name", "gps.*"]
master_key = "@{master}"
[[pipelines.trips.sinks]]
type = "file"
path = "{out}"
""")
        log = os.path.join(d, "sluice.log")
        with Sluice(["run", "-c", cfg, "--log-level", "debug"], log_path=log):
            wait_ready(port)
            status, body = request(port, "POST", "/api/send/trips", trips(30).encode(), token)
            assert status == 200, body
            wait_for(lambda: os.path.exists(out) and len(read_ndjson(out)) == 30, 30, "30 encrypted records")

            assert request(port, "DELETE", "/api/keys/drv-alice-7731")[0] == 401
            assert request(port, "DELETE", "/api/keys/drv-alice-7731", token="wrong")[0] == 401
            assert request(port, "DELETE", "/api/keys/", token=token)[0] == 400
            status, body = request(port, "DELETE", "/api/keys/drv-alice-7731?by=dpo%40example.org", token=token)
            assert status == 200, body
            answer = json.loads(body)
            assert answer["forgotten"] and len(answer["key_stores"]) == 1, answer
            assert "drv-alice" not in body, body
            pseudonym = answer["key_stores"][0]["pseudonym"]
            status, body = request(port, "DELETE", "/api/keys/drv-alice-7731", token=token)
            assert status == 404 and not json.loads(body)["forgotten"], body
            # A subject with a '/' in it is one percent-encoded segment.
            assert request(port, "DELETE", "/api/keys/a%2Fb", token=token)[0] == 404

            # Later records of the forgotten subject get a new key.
            later = trips(60).splitlines()[30:]
            status, body = request(port, "POST", "/api/send/trips", ("\n".join(later) + "\n").encode(), token)
            assert status == 200, body
            wait_for(lambda: len(read_ndjson(out)) == 60, 30, "60 encrypted records")
        with open(log) as f:
            logged = f.read()
        assert "drv-alice" not in logged and "/api/keys/..." in logged and pseudonym in logged, logged[-2000:]

        records = read_ndjson(out)
        key_of = {r["fields"]["seq"]: r["fields"]["name"].split(":")[2] for r in records}
        alice_before = {key_of[i] for i in range(0, 30, 3)}
        alice_after = {key_of[i] for i in range(30, 60, 3)}
        assert len(alice_before) == 1 and not alice_before & alice_after, (alice_before, alice_after)

        keys_args = ["--data-dir", os.path.join(d, "data"), "--master-key", "@" + master]
        audit = run(["keys", "forgotten", *keys_args]).stdout.decode()
        assert "api: dpo@example.org" in audit and pseudonym in audit, audit
        p = run(["test", "-c", decrypt_config(d, master, os.path.join(d, "data", "keys.db")), "--input", out])
        assert p.returncode == 0, p.stderr.decode()
        back = [json.loads(line)["fields"] for line in p.stdout.decode().splitlines() if line.strip()]
        assert len(back) == 60
        for f in back:
            i = f["fields.seq"]
            if i < 30 and i % 3 == 0:
                assert f["fields.name"] == "[forgotten]", (i, f)
            else:
                assert f["fields.name"] == list(DRIVERS.values())[i % 3], (i, f)


def test_export_import():
    """Keys move from a gateway's store to a backend's (another master key,
    a transport key between them): the backend decrypts everything, its
    pseudonyms are the gateway's, a later export carries the gateway's
    forgets over, and a wrong transport key or a store with another
    pseudonym key is refused with the reason."""
    with TempDir() as d:
        master = write(d, "master.key", base64.b64encode(os.urandom(32)).decode() + "\n")
        backend_master = write(d, "backend.key", base64.b64encode(os.urandom(32)).decode() + "\n")
        transport = write(d, "transport.key", os.urandom(32).hex() + "\n")
        data = os.path.join(d, "data")
        n = 90
        p = run(["run", "-c", encrypt_config(d, master), "--data-dir", data], input=trips(n).encode())
        assert p.returncode == 0, p.stderr.decode()
        out = os.path.join(d, "encrypted.ndjson")
        gateway = ["--data-dir", data, "--master-key", "@" + master]
        backend_store = os.path.join(d, "backend", "keys.db")
        os.makedirs(os.path.dirname(backend_store))
        backend = ["--key-store", backend_store, "--master-key", "@" + backend_master]
        export = os.path.join(d, "keys.json")

        p = run(["keys", "export", *gateway, "--transport-key", "@" + transport, "--file", export])
        assert p.returncode == 0, p.stderr.decode()
        with open(export) as f:
            doc = json.load(f)
        assert doc["format"] == "sluice-keys-v1" and len(doc["keys"]) == 3 and doc["forgotten"] == [], doc
        assert os.stat(export).st_mode & 0o077 == 0, oct(os.stat(export).st_mode)
        # A wrong transport key: refused, the store not made.
        wrong = write(d, "wrong.key", os.urandom(32).hex())
        p = run(["keys", "import", *backend, "--transport-key", "@" + wrong, "--file", export])
        assert p.returncode == 2 and "another transport key" in p.stderr.decode(), p

        p = run(["keys", "import", *backend, "--transport-key", "@" + transport, "--file", export])
        assert p.returncode == 0, p.stderr.decode()
        said = p.stdout.decode()
        assert "3 data keys added" in said and "took the export's pseudonym key" in said, said
        p = run(["keys", "import", *backend, "--transport-key", "@" + transport, "--file", export])
        assert p.returncode == 0 and "0 data keys added, 3 already there" in p.stdout.decode(), p
        gw_list = run(["keys", "list", *gateway]).stdout.decode()
        be_list = run(["keys", "list", *backend]).stdout.decode()
        assert sorted(gw_list.splitlines()) == sorted(be_list.splitlines()), (gw_list, be_list)

        def backend_decrypts():
            p = run(["test", "-c", decrypt_config(d, backend_master, backend_store), "--input", out])
            assert p.returncode == 0, p.stderr.decode()
            return {json.loads(line)["fields"]["fields.seq"]: json.loads(line)["fields"]["fields.name"]
                    for line in p.stdout.decode().splitlines() if line.strip()}

        names = backend_decrypts()
        assert len(names) == n and all(names[i] == list(DRIVERS.values())[i % 3] for i in names), names

        # Forgotten on the gateway; the next export carries it to the backend.
        assert run(["keys", "forget", "drv-bob-4402", *gateway]).returncode == 0
        p = run(["keys", "export", *gateway, "--transport-key", "@" + transport, "--file", export])
        assert p.returncode == 0, p.stderr.decode()
        p = run(["keys", "import", *backend, "--transport-key", "@" + transport, "--file", export,
                 "--by", "nightly sync"])
        assert p.returncode == 0 and "1 deleted" in p.stdout.decode(), p
        names = backend_decrypts()
        assert all(names[i] == ("[forgotten]" if i % 3 == 1 else list(DRIVERS.values())[i % 3]) for i in names)
        audit = run(["keys", "forgotten", *backend]).stdout.decode()
        assert "nightly sync" in audit, audit

        # An older export does not bring the forgotten key back; one subject's export.
        p = run(["keys", "export", "drv-carol-1189", *gateway, "--transport-key", "@" + transport])
        one = json.loads(p.stdout)
        assert p.returncode == 0 and len(one["keys"]) == 1 and one["pseudonym_key"] == "", p  # no pseudonym key
        # Altered on the way (a forgotten entry added): refused, nothing changes.
        one["forgotten"].append({"id": one["keys"][0]["id"], "pseudonym": one["keys"][0]["pseudonym"],
                                 "forgotten_ns": 1, "by": "mallory"})
        forged = write(d, "forged.json", json.dumps(one))
        p = run(["keys", "import", *backend, "--transport-key", "@" + transport, "--file", forged])
        assert p.returncode == 2 and "altered" in p.stderr.decode(), p
        # An export file is private from the start, and a stale temporary file is never written through.
        write(d, "again.json.tmp", "")
        p = run(["keys", "export", *gateway, "--file", os.path.join(d, "again.json")])
        assert p.returncode == 1 and "remove it" in p.stderr.decode(), p

        # A store with keys of its own and another pseudonym key: refused.
        other = os.path.join(d, "other.db")
        p = run(["run", "-c", encrypt_config(d, master), "--data-dir", os.path.join(d, "data2")], input=trips(3).encode())
        assert p.returncode == 0, p.stderr.decode()
        os.rename(os.path.join(d, "data2", "keys.db"), other)
        p = run(["keys", "import", "--key-store", other, "--master-key", "@" + master,
                 "--transport-key", "@" + transport, "--file", export])
        assert p.returncode == 2 and "another pseudonym key" in p.stderr.decode(), p


if __name__ == "__main__":
    main([test_encrypt_decrypt_and_forget, test_forget_over_api, test_export_import])
