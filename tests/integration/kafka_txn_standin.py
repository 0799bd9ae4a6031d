#!/usr/bin/env python3
"""Stand-in for a single Apache Kafka broker, with real transactions.

This is NOT Kafka. It is a small in-memory server (Python 3.11, stdlib only) that
speaks enough of the Kafka wire protocol (https://kafka.apache.org/protocol) for
librdkafka 2.0.2 and kcat to run transactional (exactly-once) producers and
read_committed consumers against it. librdkafka's own mock cluster cannot do
this: its Fetch always reports LSO == high watermark and no aborted
transactions, EndTxn writes no control markers and TxnOffsetCommit stores
nothing.

What it follows from the protocol:
  * Framing: int32 size prefix, request header v1 (api_key, api_version,
    correlation_id, nullable client_id), response header v0 (correlation_id).
    Only non-flexible versions are advertised, so there are no tagged fields.
    ApiVersions v3+ (flexible header) is answered as Kafka does (KIP-511): a
    v0-format body with UNSUPPORTED_VERSION listing ApiVersions 0-2. librdkafka
    2.0.2 parses that body as flexible, fails, and retries with ApiVersions v0.
  * APIs / versions: Produce 3-7, Fetch 4-11, ListOffsets 1-5, Metadata 1-8,
    OffsetCommit 2-7, OffsetFetch 1-5, FindCoordinator 0-2, ApiVersions 0-2,
    InitProducerId 0-1, AddPartitionsToTxn 0-1, AddOffsetsToTxn 0-1,
    EndTxn 0-1, TxnOffsetCommit 0-2.
  * Record batches v2 (magic 2) are validated (length, magic, CRC-32C) and
    stored verbatim; only baseOffset is rewritten on append.
  * Idempotence: per (producer id, partition) sequence checks, duplicate
    detection over the last 5 batches, epoch fencing.
  * Transactions (KIP-98): producer-id/epoch per transactional id, epoch bump
    and abort of a dangling transaction on InitProducerId, transaction timeout,
    COMMIT/ABORT control batches, Last Stable Offset, aborted-transaction index
    returned by read_committed Fetch, transactional offset commits that become
    visible on commit only.

What it leaves out: replication/multiple brokers (node 1 is leader and
coordinator for everything), consumer-group membership (JoinGroup, SyncGroup,
Heartbeat, LeaveGroup: clients must use assign()), incremental fetch sessions
(every Fetch is a full fetch, session id 0), flexible/tagged-field versions,
KIP-360 epoch bump via InitProducerId v3+, CONCURRENT_TRANSACTIONS (markers
are written synchronously), retention/compaction/log truncation (log start
is always 0), persistence, compression-aware processing (batches are opaque),
timestamp lookups in ListOffsets are batch-granular, fetch min_bytes is
treated as "any data", SASL/TLS, ACLs, quotas (throttle time is always 0).

Usage:  kafka_txn_standin.py --topic readings:4 --topic other:1 [--port N]
Prints "127.0.0.1:<port>" as the first stdout line, then serves until stdin is
closed or SIGTERM. Commands on stdin (one per line, answered on stdout):
  down   close all client connections and refuse new ones (answer: ok)
  up     accept connections again (answer: ok)
  stats  one JSON line: per-partition hw/lso/commit+abort markers, txn totals
Env KAFKA_STANDIN_DEBUG=1 logs every request (api, version, client) to stderr.
"""
import argparse
import bisect
import collections
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

DEBUG = os.environ.get("KAFKA_STANDIN_DEBUG", "") not in ("", "0")
MAX_REQUEST = 64 << 20           # bound request size (Kafka: socket.request.max.bytes)
MAX_TXN_TIMEOUT_MS = 900000      # Kafka: transaction.max.timeout.ms
NODE_ID = 1
HOST = "127.0.0.1"

# Error codes (https://kafka.apache.org/protocol#protocol_error_codes)
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
INVALID_REQUEST = 42
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
OPERATION_NOT_ATTEMPTED = 55

# RecordBatch v2 attribute bits
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20
BATCH_HEADER = 61                # bytes up to and including the records count


def log(msg):
    print(f"[kafka-standin] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CRC-32C
def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as used by RecordBatch v2 (covers attributes..end)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ------------------------------------------------ primitive (de)serialisation
class ParseError(Exception):
    """Malformed request: the connection is closed."""


class Reader:
    """Reads the non-flexible primitive types of the Kafka protocol."""

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def _unpack(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise ParseError("short read")
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return v

    def i8(self): return self._unpack(">b")
    def i16(self): return self._unpack(">h")
    def i32(self): return self._unpack(">i")
    def i64(self): return self._unpack(">q")
    def boolean(self): return self.i8() != 0

    def _raw(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise ParseError("bad length")
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def string(self):
        """STRING / NULLABLE_STRING: int16 length, -1 = null."""
        n = self.i16()
        return None if n < 0 else self._raw(n).decode("utf-8", "replace")

    def bytes_(self):
        """BYTES / NULLABLE_BYTES / RECORDS: int32 length, -1 = null."""
        n = self.i32()
        return None if n < 0 else self._raw(n)

    def array(self, elem):
        """ARRAY: int32 count, -1 = null; elem() reads one element."""
        n = self.i32()
        if n < 0:
            return None
        if n > len(self.buf) - self.pos:     # every element is >= 1 byte
            raise ParseError("bad array count")
        return [elem() for _ in range(n)]


class Writer:
    """Builds a response body; arrays are written as count() + elements."""

    def __init__(self):
        self.buf = bytearray()

    def i8(self, v): self.buf += struct.pack(">b", v)
    def i16(self, v): self.buf += struct.pack(">h", v)
    def i32(self, v): self.buf += struct.pack(">i", v)
    def i64(self, v): self.buf += struct.pack(">q", v)
    def count(self, items): self.i32(-1 if items is None else len(items))

    def string(self, s):
        if s is None:
            return self.i16(-1)
        b = s.encode()
        self.i16(len(b))
        self.buf += b

    def bytes_(self, b):
        if b is None:
            return self.i32(-1)
        self.i32(len(b))
        self.buf += b


def zigzag_varint(v):
    v = (v << 1) ^ (v >> 63)
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# ------------------------------------------------------------------- log
class Batch:
    __slots__ = ("base", "last", "data", "max_ts")

    def __init__(self, base, last, data, max_ts):
        self.base, self.last, self.data, self.max_ts = base, last, data, max_ts


class ProducerSeq:
    """Idempotence state of one producer id on one partition."""

    def __init__(self, epoch):
        self.epoch = epoch
        self.last_seq = -1
        self.recent = collections.deque(maxlen=5)   # (first_seq, last_seq, base_offset)


class Partition:
    def __init__(self):
        self.batches = []        # Batch objects in offset order
        self.lasts = []          # last offset of each batch (for bisect)
        self.hw = 0              # high watermark == log end offset (single replica)
        self.open_txns = {}      # producer id -> first offset of its ongoing txn here
        self.aborted = []        # (producer id, first offset, abort marker offset)
        self.producers = {}      # producer id -> ProducerSeq
        self.commits = 0
        self.aborts = 0

    @property
    def lso(self):
        """Last Stable Offset: first offset of the earliest ongoing txn, else HW."""
        return min(self.open_txns.values(), default=self.hw)

    def append(self, data, count, max_ts):
        base = self.hw
        struct.pack_into(">q", data, 0, base)   # baseOffset is outside the CRC
        struct.pack_into(">i", data, 12, 0)     # partitionLeaderEpoch, ditto
        self.batches.append(Batch(base, base + count - 1, bytes(data), max_ts))
        self.lasts.append(base + count - 1)
        self.hw = base + count
        return base

    def append_marker(self, pid, epoch, commit):
        """Append a COMMIT/ABORT control batch (RecordBatch v2, one record)."""
        key = struct.pack(">hh", 0, 1 if commit else 0)      # version, type
        value = struct.pack(">hi", 0, 0)                     # version, coordinator epoch
        body = (b"\x00" + zigzag_varint(0) + zigzag_varint(0)    # attrs, ts/offset delta
                + zigzag_varint(len(key)) + key
                + zigzag_varint(len(value)) + value + zigzag_varint(0))
        record = zigzag_varint(len(body)) + body
        now = int(time.time() * 1000)
        tail = struct.pack(">hiqqqhii", ATTR_CONTROL | ATTR_TRANSACTIONAL, 0, now, now,
                           pid, epoch, -1, 1) + record
        head = struct.pack(">qiibI", 0, 4 + 1 + 4 + len(tail), 0, 2, crc32c(tail))
        return self.append(bytearray(head + tail), 1, now)

    def find(self, offset):
        """Index of the batch containing offset (or the first one after it)."""
        return bisect.bisect_left(self.lasts, offset)


class Txn:
    """Coordinator state of one transactional id."""

    def __init__(self, txn_id, pid):
        self.txn_id, self.pid, self.epoch = txn_id, pid, 0
        self.timeout_ms = 60000
        self.ongoing = False
        self.started = 0.0
        self.parts = set()       # (topic, partition) added with AddPartitionsToTxn
        self.groups = set()      # groups added with AddOffsetsToTxn
        self.offsets = {}        # (group, topic, partition) -> (offset, metadata)
        self.last_end = None     # "commit"/"abort" of the last completed txn (retries)


class BadBatch(Exception):
    pass


def parse_batches(blob):
    """Split a Produce records blob into RecordBatch v2 entries (validated)."""
    if not blob:
        raise BadBatch("empty records")
    out, pos = [], 0
    while pos < len(blob):
        if len(blob) - pos < BATCH_HEADER:
            raise BadBatch("truncated batch")
        (blen,) = struct.unpack_from(">i", blob, pos + 8)
        end = pos + 12 + blen
        if blen < BATCH_HEADER - 12 or end > len(blob):
            raise BadBatch("bad batch length")
        if blob[pos + 16] != 2:       # magic sits at byte 16 in every format
            raise BadBatch("magic < 2 not supported")
        crc, attrs, last_delta, _bts, max_ts, pid, epoch, base_seq, _cnt = \
            struct.unpack_from(">Ihiqqqhii", blob, pos + 17)
        if crc32c(memoryview(blob)[pos + 21:end]) != crc:
            raise BadBatch("CRC mismatch")
        if attrs & ATTR_CONTROL or last_delta < 0:
            raise BadBatch("control batch or bad lastOffsetDelta from client")
        out.append(dict(data=bytearray(blob[pos:end]), count=last_delta + 1,
                        max_ts=max_ts, pid=pid, epoch=epoch, base_seq=base_seq,
                        txn=bool(attrs & ATTR_TRANSACTIONAL)))
        pos = end
    return out


# ---------------------------------------------------------------- broker
def read_offset_topics(r, ver, epoch_from):
    """The topics of an OffsetCommit or TxnOffsetCommit request: [(topic,
    [(partition, offset, metadata)])]; committed_leader_epoch is there from
    version `epoch_from` of the request on (OffsetCommit v6, TxnOffsetCommit
    v2), and skipped."""
    def partition():
        idx, offset = r.i32(), r.i64()
        if ver >= epoch_from:
            r.i32()                              # committed_leader_epoch
        return idx, offset, r.string()

    return r.array(lambda: (r.string(), r.array(partition))) or []


class Broker:
    def __init__(self, topics, port=0):
        self.topics = {name: [Partition() for _ in range(n)] for name, n in topics.items()}
        self.cond = threading.Condition(threading.RLock())   # guards all state below
        self.txns = {}           # transactional id -> Txn
        self.txn_by_pid = {}     # producer id -> Txn
        self.next_pid = 1000
        self.offsets = {}        # group -> {(topic, partition): (offset, metadata)}
        self.txn_commits = self.txn_aborts = 0
        self.down = False
        self.conns = set()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, port))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        # api key -> (name, min version, max version, handler)
        self.apis = {
            0: ("Produce", 3, 7, self.h_produce),
            1: ("Fetch", 4, 11, self.h_fetch),
            2: ("ListOffsets", 1, 5, self.h_list_offsets),
            3: ("Metadata", 1, 8, self.h_metadata),
            8: ("OffsetCommit", 2, 7, self.h_offset_commit),
            9: ("OffsetFetch", 1, 5, self.h_offset_fetch),
            10: ("FindCoordinator", 0, 2, self.h_find_coordinator),
            18: ("ApiVersions", 0, 2, self.h_api_versions),
            22: ("InitProducerId", 0, 1, self.h_init_producer_id),
            24: ("AddPartitionsToTxn", 0, 1, self.h_add_partitions),
            25: ("AddOffsetsToTxn", 0, 1, self.h_add_offsets),
            26: ("EndTxn", 0, 1, self.h_end_txn),
            28: ("TxnOffsetCommit", 0, 2, self.h_txn_offset_commit),
        }

    # -------------------------------------------------------- networking
    def start(self):
        threading.Thread(target=self._accept_loop, daemon=True).start()
        threading.Thread(target=self._txn_timeout_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self.lsock.accept()
            except OSError:
                return
            with self.cond:
                if self.down:
                    sock.close()
                    continue
                self.conns.add(sock)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def set_down(self, down):
        with self.cond:
            self.down = down
            if down:
                for s in self.conns:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.cond.notify_all()      # wake long-polling fetches

    @staticmethod
    def _recv_exact(sock, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _serve(self, sock):
        """One thread per connection; requests are handled strictly in order,
        like Kafka does per connection."""
        try:
            while True:
                head = self._recv_exact(sock, 4)
                if head is None:
                    break
                (size,) = struct.unpack(">i", head)
                if size < 8 or size > MAX_REQUEST:
                    log(f"closing connection: request size {size}")
                    break
                payload = self._recv_exact(sock, size)
                if payload is None:
                    break
                r = Reader(payload)
                key, ver, corr = r.i16(), r.i16(), r.i32()
                client = r.string()
                api = self.apis.get(key)
                if DEBUG:
                    log(f"client={client} api={api[0] if api else '?'}({key}) v{ver} corr={corr}")
                if key == 18 and ver > 2:
                    # KIP-511: unsupported ApiVersions version -> v0-format body
                    # with UNSUPPORTED_VERSION and our ApiVersions range.
                    w = Writer()
                    w.i16(UNSUPPORTED_VERSION)
                    w.i32(1)
                    w.i16(18), w.i16(0), w.i16(2)
                    resp = bytes(w.buf)
                elif api is None or not api[1] <= ver <= api[2]:
                    log(f"closing connection: unsupported api {key} v{ver}")
                    break
                else:
                    resp = api[3](r, ver)
                if resp is None:        # Produce with acks=0
                    continue
                sock.sendall(struct.pack(">ii", len(resp) + 4, corr) + resp)
        except (ParseError, OSError) as e:
            if DEBUG:
                log(f"connection closed: {e!r}")
        except Exception:               # a bug here must not take the server down
            log("internal error, closing connection:\n" + traceback.format_exc())
        finally:
            with self.cond:
                self.conns.discard(sock)
            sock.close()

    # ------------------------------------------------------------ helpers
    def partition(self, topic, idx):
        parts = self.topics.get(topic)
        return parts[idx] if parts is not None and 0 <= idx < len(parts) else None

    def _check_txn(self, txn_id, pid, epoch):
        """Coordinator-side producer validation shared by the txn APIs."""
        txn = self.txns.get(txn_id)
        if txn is None or txn.pid != pid:
            return INVALID_PRODUCER_ID_MAPPING, None
        if epoch != txn.epoch:
            return INVALID_PRODUCER_EPOCH, None
        return NONE, txn

    def _begin(self, txn):
        if not txn.ongoing:
            txn.ongoing, txn.started, txn.last_end = True, time.monotonic(), None

    def _end_txn(self, txn, commit):
        """Write COMMIT/ABORT markers to every partition of the txn, update the
        aborted index, apply or drop the staged offsets (KIP-98 phase two)."""
        for topic, idx in sorted(txn.parts):
            part = self.topics[topic][idx]
            marker = part.append_marker(txn.pid, txn.epoch, commit)
            first = part.open_txns.pop(txn.pid, None)
            if commit:
                part.commits += 1
            else:
                part.aborts += 1
                if first is not None:
                    part.aborted.append((txn.pid, first, marker))
        if commit:
            for (group, topic, idx), value in txn.offsets.items():
                self.offsets.setdefault(group, {})[(topic, idx)] = value
            self.txn_commits += 1
        else:
            self.txn_aborts += 1
        txn.ongoing = False
        txn.parts, txn.groups, txn.offsets = set(), set(), {}
        txn.last_end = "commit" if commit else "abort"
        self.cond.notify_all()           # LSO moved

    def _bump_epoch(self, txn):
        """Fence the current producer; start a new producer id on overflow."""
        if txn.epoch >= 32766:
            del self.txn_by_pid[txn.pid]
            txn.pid, txn.epoch = self.next_pid, 0
            self.next_pid += 1
            self.txn_by_pid[txn.pid] = txn
        else:
            txn.epoch += 1

    def _txn_timeout_loop(self):
        """Abort transactions older than transaction_timeout_ms; like Kafka,
        bump the epoch first so the old producer instance is fenced."""
        while True:
            # The broker's own expiry check, every 100 ms (Kafka's
            # transaction.abort.timed.out.transaction.cleanup.interval.ms),
            # not a test waiting for something.
            time.sleep(0.1)
            with self.cond:
                now = time.monotonic()
                for txn in self.txns.values():
                    if txn.ongoing and (now - txn.started) * 1000 > txn.timeout_ms:
                        log(f"transaction {txn.txn_id!r} timed out: aborting")
                        self._bump_epoch(txn)
                        self._end_txn(txn, commit=False)

    def stats(self):
        with self.cond:
            parts = {f"{t}/{i}": dict(hw=p.hw, lso=p.lso, commits=p.commits, aborts=p.aborts)
                     for t, ps in self.topics.items() for i, p in enumerate(ps)}
            return dict(partitions=parts, committed_txns=self.txn_commits,
                        aborted_txns=self.txn_aborts,
                        open_txns=sum(t.ongoing for t in self.txns.values()))

    # ========================================================== handlers
    # Each handler parses the whole request first, then mutates state under
    # the lock, then encodes the response body (without the response header).

    def h_api_versions(self, r, ver):
        """ApiVersions v0-2: error, [api_key min max], throttle (v1+)."""
        w = Writer()
        w.i16(NONE)
        w.i32(len(self.apis))
        for key, (_, lo, hi, _) in sorted(self.apis.items()):
            w.i16(key), w.i16(lo), w.i16(hi)
        if ver >= 1:
            w.i32(0)
        return w.buf

    def h_metadata(self, r, ver):
        """Metadata v1-8. Null topic array = all topics; no auto-creation."""
        topics = r.array(r.string)
        if ver >= 4:
            r.boolean()                          # allow_auto_topic_creation (ignored)
        if ver >= 8:
            r.boolean(), r.boolean()             # include_*_authorized_operations
        names = sorted(self.topics) if topics is None else topics
        w = Writer()
        if ver >= 3:
            w.i32(0)                             # throttle_time_ms
        w.i32(1)                                 # brokers
        w.i32(NODE_ID), w.string(HOST), w.i32(self.port), w.string(None)
        if ver >= 2:
            w.string("sluice-kafka-txn-standin")  # cluster_id
        w.i32(NODE_ID)                           # controller_id
        w.i32(len(names))
        for name in names:
            parts = self.topics.get(name)
            w.i16(NONE if parts is not None else UNKNOWN_TOPIC_OR_PARTITION)
            w.string(name)
            w.i8(0)                              # is_internal
            w.i32(len(parts or []))
            for idx in range(len(parts or [])):
                w.i16(NONE), w.i32(idx), w.i32(NODE_ID)
                if ver >= 7:
                    w.i32(0)                     # leader_epoch
                w.i32(1), w.i32(NODE_ID)         # replica_nodes
                w.i32(1), w.i32(NODE_ID)         # isr_nodes
                if ver >= 5:
                    w.i32(0)                     # offline_replicas
            if ver >= 8:
                w.i32(-2147483648)               # topic_authorized_operations: n/a
        if ver >= 8:
            w.i32(-2147483648)                   # cluster_authorized_operations
        return w.buf

    def h_find_coordinator(self, r, ver):
        """FindCoordinator v0-2: we coordinate groups (0) and transactions (1)."""
        r.string()
        key_type = r.i8() if ver >= 1 else 0
        err = NONE if key_type in (0, 1) else INVALID_REQUEST
        w = Writer()
        if ver >= 1:
            w.i32(0)
        w.i16(err)
        if ver >= 1:
            w.string(None)
        w.i32(NODE_ID), w.string(HOST), w.i32(self.port)
        return w.buf

    def h_produce(self, r, ver):
        """Produce v3-7: transactional_id, acks, timeout, [topic [partition records]]."""
        r.string()                               # transactional_id (batches carry the pid)
        acks = r.i16()
        r.i32()                                  # timeout_ms
        topics = r.array(lambda: (r.string(), r.array(lambda: (r.i32(), r.bytes_()))))
        results = []
        with self.cond:
            for name, parts in topics:
                results.append((name, [(idx, *self._produce_one(name, idx, recs))
                                       for idx, recs in parts or []]))
            self.cond.notify_all()               # wake long-polling fetches
        if acks == 0:
            return None
        w = Writer()
        w.i32(len(results))
        for name, parts in results:
            w.string(name)
            w.i32(len(parts))
            for idx, err, base in parts:
                w.i32(idx), w.i16(err), w.i64(base)
                w.i64(-1)                        # log_append_time_ms: CreateTime
                if ver >= 5:
                    w.i64(0)                     # log_start_offset
        w.i32(0)                                 # throttle_time_ms
        return w.buf

    def _produce_one(self, topic, idx, records):
        """Validate and append one partition's batches; returns (error, base offset)."""
        part = self.partition(topic, idx)
        if part is None:
            return UNKNOWN_TOPIC_OR_PARTITION, -1
        try:
            batches = parse_batches(records)
        except BadBatch as e:
            log(f"produce {topic}[{idx}]: {e}")
            return CORRUPT_MESSAGE, -1
        b0 = batches[0]
        pid, epoch, is_txn = b0["pid"], b0["epoch"], b0["txn"]
        if any((b["pid"], b["epoch"], b["txn"]) != (pid, epoch, is_txn) for b in batches):
            return CORRUPT_MESSAGE, -1
        # Sequence range of the whole request (batches must be contiguous).
        first_seq = b0["base_seq"]
        last_seq = first_seq - 1
        for b in batches:
            if pid >= 0 and b["base_seq"] != (last_seq + 1) & 0x7FFFFFFF:
                return OUT_OF_ORDER_SEQUENCE_NUMBER, -1
            last_seq = (b["base_seq"] + b["count"] - 1) & 0x7FFFFFFF
        txn = None
        if is_txn:
            # KIP-98: the producer must belong to a transactional id, carry its
            # current epoch and have added this partition to its ongoing txn.
            txn = self.txn_by_pid.get(pid)
            if txn is None:
                return INVALID_PRODUCER_ID_MAPPING, -1
            if epoch != txn.epoch:
                return INVALID_PRODUCER_EPOCH, -1
        st = part.producers.get(pid) if pid >= 0 else None
        if st is not None:
            if epoch < st.epoch:
                return INVALID_PRODUCER_EPOCH, -1
            if epoch == st.epoch:
                for fs, ls, off in st.recent:
                    if (fs, ls) == (first_seq, last_seq):
                        return NONE, off         # duplicate: ack with original offset
                if first_seq != (st.last_seq + 1) & 0x7FFFFFFF:
                    return OUT_OF_ORDER_SEQUENCE_NUMBER, -1
        if pid >= 0 and (st is None or epoch > st.epoch) and first_seq != 0:
            return OUT_OF_ORDER_SEQUENCE_NUMBER, -1  # a new epoch starts at sequence 0
        if txn is not None and (not txn.ongoing or (topic, idx) not in txn.parts):
            return INVALID_TXN_STATE, -1
        base = part.hw
        for b in batches:
            part.append(b["data"], b["count"], b["max_ts"])
        if pid >= 0:
            if st is None or epoch > st.epoch:
                st = part.producers[pid] = ProducerSeq(epoch)
            st.last_seq = last_seq
            st.recent.append((first_seq, last_seq, base))
        if txn is not None:
            part.open_txns.setdefault(pid, base)  # first offset of the txn -> LSO
        return NONE, base

    def h_fetch(self, r, ver):
        """Fetch v4-11 (full fetches only, no sessions). read_committed (1) only
        returns batches below the LSO plus the overlapping aborted txns."""
        r.i32()                                  # replica_id
        max_wait, min_bytes, max_bytes = r.i32(), r.i32(), r.i32()
        isolation = r.i8()
        if ver >= 7:
            r.i32(), r.i32()                     # session_id, session_epoch

        def partition():
            idx = r.i32()
            if ver >= 9:
                r.i32()                          # current_leader_epoch
            offset = r.i64()
            if ver >= 5:
                r.i64()                          # log_start_offset (follower only)
            return idx, offset, r.i32()

        topics = r.array(lambda: (r.string(), r.array(partition))) or []
        if ver >= 7:
            r.array(lambda: (r.string(), r.array(r.i32)))   # forgotten_topics_data
        if ver >= 11:
            r.string()                           # rack_id
        deadline = time.monotonic() + max(max_wait, 0) / 1000
        with self.cond:
            while True:                          # long poll: wait for data or LSO move
                result, total, error = self._fetch_once(topics, isolation, max_bytes)
                left = deadline - time.monotonic()
                if total >= max(min_bytes, 1) or error or self.down or left <= 0:
                    break
                self.cond.wait(left)
        w = Writer()
        w.i32(0)                                 # throttle_time_ms
        if ver >= 7:
            w.i16(NONE), w.i32(0)                # error_code, session_id 0 = no session
        w.i32(len(result))
        for name, parts in result:
            w.string(name)
            w.i32(len(parts))
            for idx, err, hw, lso, aborted, records in parts:
                w.i32(idx), w.i16(err), w.i64(hw), w.i64(lso)
                if ver >= 5:
                    w.i64(0 if hw >= 0 else -1)  # log_start_offset
                w.count(aborted)
                for pid, first in aborted or []:
                    w.i64(pid), w.i64(first)
                if ver >= 11:
                    w.i32(-1)                    # preferred_read_replica
                w.bytes_(records)
        return w.buf

    def _fetch_once(self, topics, isolation, max_bytes):
        result, total, error = [], 0, False
        for name, parts in topics:
            out = []
            for idx, offset, part_max in parts or []:
                part = self.partition(name, idx)
                if part is None:
                    out.append((idx, UNKNOWN_TOPIC_OR_PARTITION, -1, -1, None, None))
                    error = True
                    continue
                if offset < 0 or offset > part.hw:
                    out.append((idx, OFFSET_OUT_OF_RANGE, part.hw, part.lso, None, None))
                    error = True
                    continue
                limit = part.lso if isolation == 1 else part.hw
                chunks, size, i = [], 0, part.find(offset)
                while i < len(part.batches) and part.batches[i].last < limit:
                    data = part.batches[i].data
                    # KIP-74: limits apply, except the very first batch returned
                    if (size + len(data) > part_max or total + len(data) > max_bytes) \
                            and total > 0:
                        break
                    chunks.append(data)
                    size += len(data)
                    total += len(data)
                    i += 1
                aborted = None
                if isolation == 1:
                    # Aborted txns overlapping [offset, end of returned data).
                    upper = part.batches[i - 1].last + 1 if chunks else offset
                    aborted = [(pid, first) for pid, first, last in part.aborted
                               if last >= offset and first < upper]
                out.append((idx, NONE, part.hw, part.lso, aborted, b"".join(chunks)))
            result.append((name, out))
        return result, total, error

    def h_list_offsets(self, r, ver):
        """ListOffsets v1-5: -2 earliest (0), -1 latest (HW, or LSO when
        read_committed), else first batch whose max timestamp >= ts."""
        r.i32()                                  # replica_id
        isolation = r.i8() if ver >= 2 else 0

        def partition():
            idx = r.i32()
            if ver >= 4:
                r.i32()                          # current_leader_epoch
            return idx, r.i64()

        topics = r.array(lambda: (r.string(), r.array(partition))) or []
        w = Writer()
        if ver >= 2:
            w.i32(0)
        w.i32(len(topics))
        with self.cond:
            for name, parts in topics:
                w.string(name)
                w.count(parts)
                for idx, ts in parts or []:
                    part = self.partition(name, idx)
                    err, rts, off = NONE, -1, -1
                    if part is None:
                        err = UNKNOWN_TOPIC_OR_PARTITION
                    elif ts == -2:
                        off = 0
                    elif ts == -1:
                        off = part.lso if isolation == 1 else part.hw
                    else:
                        limit = part.lso if isolation == 1 else part.hw
                        for b in part.batches:
                            if b.last >= limit:
                                break
                            if b.max_ts >= ts:
                                rts, off = b.max_ts, b.base
                                break
                    w.i32(idx), w.i16(err), w.i64(rts), w.i64(off)
                    if ver >= 4:
                        w.i32(0)                 # leader_epoch
        return w.buf

    def h_offset_commit(self, r, ver):
        """OffsetCommit v2-7 (plain consumer commits; generation not checked)."""
        group = r.string()
        r.i32(), r.string()                      # generation_id, member_id
        if ver >= 7:
            r.string()                           # group_instance_id
        if ver <= 4:
            r.i64()                              # retention_time_ms

        topics = read_offset_topics(r, ver, epoch_from=6)
        w = Writer()
        if ver >= 3:
            w.i32(0)
        w.i32(len(topics))
        with self.cond:
            store = self.offsets.setdefault(group, {})
            for name, parts in topics:
                w.string(name)
                w.count(parts)
                for idx, offset, meta in parts or []:
                    err = NONE
                    if self.partition(name, idx) is None:
                        err = UNKNOWN_TOPIC_OR_PARTITION
                    else:
                        store[(name, idx)] = (offset, meta)
                    w.i32(idx), w.i16(err)
        return w.buf

    def h_offset_fetch(self, r, ver):
        """OffsetFetch v1-5: committed offsets only (pending txn offsets are
        invisible); unknown -> offset -1, metadata ""."""
        group = r.string()
        topics = r.array(lambda: (r.string(), r.array(r.i32)))
        with self.cond:
            store = dict(self.offsets.get(group, {}))
        if topics is None:                       # v2+: all partitions of the group
            by_topic = collections.defaultdict(list)
            for name, idx in sorted(store):
                by_topic[name].append(idx)
            topics = list(by_topic.items())
        w = Writer()
        if ver >= 3:
            w.i32(0)
        w.i32(len(topics))
        for name, parts in topics:
            w.string(name)
            w.count(parts)
            for idx in parts or []:
                offset, meta = store.get((name, idx), (-1, ""))
                w.i32(idx), w.i64(offset)
                if ver >= 5:
                    w.i32(-1)                    # committed_leader_epoch
                w.string(meta), w.i16(NONE)
        if ver >= 2:
            w.i16(NONE)
        return w.buf

    def h_init_producer_id(self, r, ver):
        """InitProducerId v0-1. Without transactional id: a fresh idempotent
        producer id. With one: bump the epoch (fencing older instances) and
        abort the transaction the previous instance left open."""
        txn_id, timeout = r.string(), r.i32()
        err, pid, epoch = NONE, -1, -1
        with self.cond:
            if txn_id is None:
                pid, epoch = self.next_pid, 0
                self.next_pid += 1
            elif not 0 < timeout <= MAX_TXN_TIMEOUT_MS:
                err = INVALID_TRANSACTION_TIMEOUT
            else:
                txn = self.txns.get(txn_id)
                if txn is None:
                    txn = self.txns[txn_id] = Txn(txn_id, self.next_pid)
                    self.txn_by_pid[txn.pid] = txn
                    self.next_pid += 1
                else:
                    self._bump_epoch(txn)
                    if txn.ongoing:
                        log(f"InitProducerId({txn_id!r}): aborting the open transaction")
                        self._end_txn(txn, commit=False)
                    txn.last_end = None
                txn.timeout_ms = timeout
                pid, epoch = txn.pid, txn.epoch
        w = Writer()
        w.i32(0), w.i16(err), w.i64(pid), w.i16(epoch)
        return w.buf

    def h_add_partitions(self, r, ver):
        """AddPartitionsToTxn v0-1: starts the txn; all-or-nothing like Kafka
        (unknown partitions fail, the rest get OPERATION_NOT_ATTEMPTED)."""
        txn_id, pid, epoch = r.string(), r.i64(), r.i16()
        topics = r.array(lambda: (r.string(), r.array(r.i32))) or []
        wanted = [(name, idx) for name, parts in topics for idx in parts or []]
        with self.cond:
            err, txn = self._check_txn(txn_id, pid, epoch)
            unknown = {tp for tp in wanted if self.partition(*tp) is None}
            if not err and not unknown:
                self._begin(txn)
                txn.parts.update(wanted)
        w = Writer()
        w.i32(0)
        w.i32(len(topics))
        for name, parts in topics:
            w.string(name)
            w.count(parts)
            for idx in parts or []:
                e = err or (UNKNOWN_TOPIC_OR_PARTITION if (name, idx) in unknown
                            else OPERATION_NOT_ATTEMPTED if unknown else NONE)
                w.i32(idx), w.i16(e)
        return w.buf

    def h_add_offsets(self, r, ver):
        """AddOffsetsToTxn v0-1: registers the group's offsets in the txn."""
        txn_id, pid, epoch, group = r.string(), r.i64(), r.i16(), r.string()
        with self.cond:
            err, txn = self._check_txn(txn_id, pid, epoch)
            if not err:
                self._begin(txn)
                txn.groups.add(group)
        w = Writer()
        w.i32(0), w.i16(err)
        return w.buf

    def h_txn_offset_commit(self, r, ver):
        """TxnOffsetCommit v0-2: stage offsets in the txn (visible on commit)."""
        txn_id, group, pid, epoch = r.string(), r.string(), r.i64(), r.i16()

        topics = read_offset_topics(r, ver, epoch_from=2)
        w = Writer()
        w.i32(0)
        w.i32(len(topics))
        with self.cond:
            err, txn = self._check_txn(txn_id, pid, epoch)
            if not err and (not txn.ongoing or group not in txn.groups):
                err = INVALID_TXN_STATE
            for name, parts in topics:
                w.string(name)
                w.count(parts)
                for idx, offset, meta in parts or []:
                    e = err
                    if not e and self.partition(name, idx) is None:
                        e = UNKNOWN_TOPIC_OR_PARTITION
                    if not e:
                        txn.offsets[(group, name, idx)] = (offset, meta)
                    w.i32(idx), w.i16(e)
        return w.buf

    def h_end_txn(self, r, ver):
        """EndTxn v0-1: commit or abort. A retry of the txn that just completed
        the same way succeeds; commit without a txn is INVALID_TXN_STATE."""
        txn_id, pid, epoch, commit = r.string(), r.i64(), r.i16(), r.boolean()
        with self.cond:
            err, txn = self._check_txn(txn_id, pid, epoch)
            if not err:
                if txn.ongoing:
                    self._end_txn(txn, commit)
                elif commit and txn.last_end != "commit":
                    err = INVALID_TXN_STATE
        w = Writer()
        w.i32(0), w.i16(err)
        return w.buf


# ------------------------------------------------------------- main / CLI
def main(argv=None):
    ap = argparse.ArgumentParser(description="Kafka broker stand-in with transactions")
    ap.add_argument("--topic", action="append", default=[], metavar="NAME:PARTITIONS")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    topics = {}
    for spec in args.topic:
        name, _, n = spec.rpartition(":")
        if not name or not n.isdigit() or int(n) < 1:
            ap.error(f"bad --topic {spec!r}, expected NAME:PARTITIONS")
        topics[name] = int(n)
    broker = Broker(topics, args.port)
    broker.start()
    print(f"{HOST}:{broker.port}", flush=True)

    def on_sigterm(*_):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd in ("down", "up"):
                broker.set_down(cmd == "down")
                print("ok", flush=True)
            elif cmd == "stats":
                print(json.dumps(broker.stats()), flush=True)
            elif cmd:
                print(f"error unknown command {cmd!r}", flush=True)
    except (SystemExit, KeyboardInterrupt):
        pass
    broker.lsock.close()
    sys.stdout.flush()
    os._exit(0)                                  # don't wait for connection threads


class KafkaTxnStandin:
    """Test helper: runs the stand-in as a subprocess.

        with KafkaTxnStandin({"readings": 4}) as kafka:
            use(kafka.bootstrap)      # "127.0.0.1:<port>"
            kafka.down(); kafka.up(); kafka.stats()
    """

    def __init__(self, topics, port=None, debug=False, stderr=None):
        self.topics, self.port, self.debug, self.stderr = dict(topics), port, debug, stderr
        self.proc = None
        self.bootstrap = None

    def start(self):
        cmd = [sys.executable, os.path.abspath(__file__)]
        for name, n in self.topics.items():
            cmd += ["--topic", f"{name}:{n}"]
        if self.port:
            cmd += ["--port", str(self.port)]
        env = dict(os.environ, KAFKA_STANDIN_DEBUG="1" if self.debug else "0")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=env)
        if not select.select([self.proc.stdout], [], [], 15)[0]:
            self.close()
            raise RuntimeError("kafka stand-in did not start")
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            self.close()
            raise RuntimeError("kafka stand-in exited during start-up")
        return self

    def command(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def down(self):
        assert self.command("down") == "ok"

    def up(self):
        assert self.command("up") == "ok"

    def stats(self):
        return json.loads(self.command("stats"))

    def close(self):
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


if __name__ == "__main__":
    main()
