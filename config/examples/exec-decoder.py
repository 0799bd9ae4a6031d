#!/usr/bin/env python3
"""A decoder for sluice's `exec` decoder, in Python: 8-byte frames from a
battery-powered climate sensor (big-endian: device id u16, temperature
in 0.01 degC i16, relative humidity in 0.01 % u16, battery in mV u16).

sluice writes one JSON line per frame to standard input:
    {"origin": "...", "time": "2026-12-07T06:10:00.5Z", "payload": "<base64>"}
and reads exactly one JSON line back per frame, in order:
    {"records": [{"measurement": ..., "tags": {...}, "fields": {...}}]}
    {"error": "why the frame is broken"}      (a dead letter with the reason)
    {"not_mine": true}                        (the next decoder in the chain)
A record may also give "time" (RFC 3339 or an epoch number) and "origin";
left out, they are the frame's. Flush after every answer. Logs go to
standard error, which sluice logs under the source's name."""

import base64
import json
import struct
import sys


def decode(frame):
    payload = base64.b64decode(frame["payload"])
    if len(payload) != 8:
        return {"not_mine": True}
    device, temp, hum, battery = struct.unpack(">HhHH", payload)
    if hum > 10000:
        return {"error": f"humidity {hum / 100} % is out of range"}
    return {"records": [{
        "measurement": "climate",
        "tags": {"device": f"{device:04x}"},
        "fields": {"temperature": temp / 100, "humidity": hum / 100, "battery_v": battery / 1000},
    }]}


for line in sys.stdin:
    try:
        answer = decode(json.loads(line))
    except Exception as e:  # a frame this decoder cannot read is a dead letter, not a crash
        answer = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
