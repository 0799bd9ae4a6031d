#!/usr/bin/env python3
"""A stage for sluice's `exec` stage, in Python: adds the dew point to
every record with temperature (degC) and humidity (%) fields.

sluice writes one record per line to standard input, in its NDJSON form:
    {"time": "...", "measurement": "climate", "origin": "...",
     "tags": {"device": "0a01"}, "fields": {"temperature": 21.5, "humidity": 40.0}}
and reads exactly one JSON line back per record, in order:
    the record (changed or not)            -> it goes on
    a list of records ([] drops it)        -> they go on
    {"error": "why"}                       -> a dead letter with the reason
Members a returned record leaves out keep the input record's. Doubles
arrive with a fraction (21.0), so that they stay doubles on the way back.
Flush after every answer."""

import json
import math
import sys


def dew_point(t, rh):
    # Magnus formula, good to 0.35 degC between -45 and 60 degC.
    a, b = 17.62, 243.12
    g = math.log(rh / 100.0) + a * t / (b + t)
    return b * g / (a - g)


for line in sys.stdin:
    record = json.loads(line)
    fields = record.get("fields", {})
    t, rh = fields.get("temperature"), fields.get("humidity")
    if isinstance(t, (int, float)) and isinstance(rh, (int, float)):
        if rh <= 0:
            answer = {"error": f"humidity {rh} % has no dew point"}
        else:
            fields["dew_point"] = round(dew_point(t, rh), 2)
            answer = record
    else:
        answer = record
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
