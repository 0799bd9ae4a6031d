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

from harness import TempDir, main, read_ndjson, run

DRIVERS = {"drv-alice-7731": "Alice Anderson", "drv-bob-4402": "Bob Brennan", "drv-carol-1189": "Carol Castellanos"}


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def encrypt_config(d, master):
    return write(d, "encrypt.toml", f"""
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


if __name__ == "__main__":
    main([test_encrypt_decrypt_and_forget])
