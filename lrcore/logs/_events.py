"""TensorBoard event files: records split and checksummed (CRC32C in native code via
``google-crc32c`` when installed, tensorboard's pure-Python CRC otherwise), and scalars read
without a Python object per value where the records have the usual shape.

An event file is a sequence of records ``length (u64) | crc(length) | payload |
crc(payload)``; a payload is an ``Event`` protobuf. Scalar events written by PyTorch's
``SummaryWriter``, tensorboardX and TF1 hold ``wall_time``, ``step`` and a ``Summary`` of
``Value(tag, simple_value)`` items. Their bytes are read column-wise with numpy (one pass
per value position, over all records at once); every other record (file version, tensors,
images, histograms, anything that does not match byte for byte) is parsed by protobuf.
Both paths give the same numbers (a test compares them on mixed files).
"""

from __future__ import annotations

import struct

import numpy as np

from lrcore.logs._types import LogError


def _crc_functions():
    """``masked_crc(bytes) -> int``: native when google-crc32c is installed."""
    try:
        import google_crc32c

        if google_crc32c.implementation != "c":
            raise ImportError
        value = google_crc32c.value

        def masked(data) -> int:
            crc = value(data)
            return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

        return masked, "google-crc32c (native)"
    except ImportError:
        from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

        return masked_crc32c, "tensorboard (pure Python)"


_MASKED_CRC = None


def masked_crc(data) -> int:
    global _MASKED_CRC
    if _MASKED_CRC is None:
        _MASKED_CRC = _crc_functions()[0]
    return _MASKED_CRC(data)


def crc_backend() -> str:
    """Which CRC32C implementation reads event files (for benchmarks and reports)."""
    return _crc_functions()[1]


def split_records(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(payload starts, payload lengths, unreadable records) of an event file.

    A payload whose checksum fails is skipped and counted; a record cut short at the end of
    the file (a run killed while writing) is counted; a damaged length ends the file with
    an error, as nothing after it can be found. The records are found first (a loop over
    lengths), then every checksum is computed and compared at once.
    """
    unpack = struct.unpack_from
    positions = []
    pos, size, cut = 0, len(data), 0
    while pos < size:
        if size - pos < 12:
            cut = 1
            break
        end = pos + 16 + unpack("<Q", data, pos)[0]
        if end > size:
            cut = 1
            break
        positions.append(pos)
        pos = end
    masked_crc(b"")  # choose the implementation once
    crc = _MASKED_CRC
    pos_arr = np.array(positions, dtype=np.int64)
    buf = np.frombuffer(data, dtype=np.uint8)
    lengths = (
        _gather(buf, pos_arr, 8).view("<u8").reshape(-1).astype(np.int64)
        if len(positions)
        else np.zeros(0, np.int64)
    )
    heads = np.array([crc(data[p : p + 8]) for p in positions], dtype=np.uint32)
    stored = _gather(buf, pos_arr + 8, 4).view("<u4").reshape(-1) if len(positions) else heads
    wrong = np.flatnonzero(heads != stored)
    if cut and size - pos >= 12 and crc(data[pos : pos + 8]) != unpack("<I", data, pos + 8)[0]:
        wrong = np.r_[wrong, len(positions)]  # the "cut" record's length is damaged
    if len(wrong):
        k = int(wrong[0])
        if k == 0:
            raise LogError(f"{name}: not a TensorBoard event file (its first record is invalid)")
        at = positions[k] if k < len(positions) else pos
        raise LogError(
            f"{name}: record {k + 1} (byte {at:,}) is damaged and nothing after it can be "
            f"read; {k:,} record(s) before it are readable"
        )
    starts = pos_arr + 12
    payload = np.array(
        [crc(data[s : s + n]) for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)],
        dtype=np.uint32,
    )
    stored = (
        _gather(buf, starts + lengths, 4).view("<u4").reshape(-1) if len(positions) else payload
    )
    ok = payload == stored
    return starts[ok], lengths[ok], int((~ok).sum()) + cut


def _gather(buf: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    return buf[pos[:, None] + np.arange(width)].copy()


def _arrays(starts, lengths) -> tuple[np.ndarray, np.ndarray]:
    return np.array(starts, dtype=np.int64), np.array(lengths, dtype=np.int64)


def _varint(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values as uint64, their byte lengths, ok) of the varints at ``pos`` (vectorised)."""
    window = buf[pos[:, None] + np.arange(10)]  # buf is padded by 10 bytes
    last = (window & 0x80) == 0
    ok = last.any(axis=1)
    n = np.argmax(last, axis=1) + 1
    parts = (window & 0x7F).astype(np.uint64) << (7 * np.arange(10, dtype=np.uint64))
    parts[np.arange(10) >= n[:, None]] = 0
    return np.bitwise_or.reduce(parts, axis=1), n, ok


# values per record read column-wise; a record with more (100,000 tags in one record took a
# numpy pass per value position over the few records that long) is left to protobuf
_FAST_VALUES = 256


def fast_scalars(data: bytes, starts: np.ndarray, lengths: np.ndarray):
    """Scalars of the records with the usual shape, column-wise.

    Returns ``(done, rows)``: ``done`` marks the records read here, ``rows`` is a list of
    ``(tag, record indices, steps, values)``. The other records are left to protobuf.
    """
    n = len(starts)
    if n == 0:
        return np.zeros(0, bool), []
    buf = np.frombuffer(data + bytes(16), dtype=np.uint8)
    end = starts + lengths
    p = starts.copy()
    has_wall = buf[p] == 0x09
    p = p + 9 * has_wall
    has_step = buf[p] == 0x10
    step, k, ok_step = _varint(buf, p + 1)
    step = np.where(has_step, step, 0).view(np.int64)
    p = p + has_step * (1 + k)
    ok = ~has_step | ok_step
    ok &= buf[p] == 0x2A
    summary_len, k, ok_len = _varint(buf, p + 1)
    p = p + 1 + k
    ok &= ok_len & (p + summary_len.astype(np.int64) == end)
    done = ok.copy()
    active = ok.copy()  # records still being walked
    found = []  # per value position: (record indices, tag positions, tag lengths, values)
    for _ in range(_FAST_VALUES):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        q = p[idx]
        vlen = buf[q + 1].astype(np.int64)
        tlen = buf[q + 3].astype(np.int64)
        good = (buf[q] == 0x0A) & (vlen < 128) & (buf[q + 2] == 0x0A) & (tlen < 128)
        good &= vlen == tlen + 7  # tag and a 4-byte simple_value, nothing else
        good &= buf[q + 4 + tlen] == 0x15
        done[idx[~good]] = False
        active[idx[~good]] = False
        idx, q, tlen = idx[good], q[good], tlen[good]
        found.append((idx, q + 4, tlen, _floats(buf, q + 5 + tlen)))
        p[idx] = q + 2 + tlen + 7
        finished = p[idx] >= end[idx]
        done[idx[finished & (p[idx] > end[idx])]] = False  # ran past the record
        active[idx[finished]] = False
    done[active] = False  # more values than _FAST_VALUES: protobuf reads the record whole
    if not found:
        return done, []
    rec, at, tlen, val = (np.concatenate(a) for a in zip(*found, strict=True))
    keep = done[rec]  # a record that failed later is read again by protobuf, whole
    rec, at, tlen, val = rec[keep], at[keep], tlen[keep], val[keep]
    return done, _by_tag(buf, rec, at, tlen, step[rec], val)


def _by_tag(buf: np.ndarray, rec, at, tlen, step, val) -> list:
    """``(tag, record indices, steps, values)`` per distinct tag, records in file order. The
    tags of one length are sorted as whole byte strings: 100,000 distinct tags cost a sort
    and a slice per tag, not a pass over every value per tag."""
    out = []
    for t in np.unique(tlen).tolist():
        sel = np.flatnonzero(tlen == t)
        tags = np.ascontiguousarray(buf[at[sel][:, None] + np.arange(t)])
        keys = tags.view(np.dtype((np.void, t))).ravel() if t else np.zeros(len(sel))
        local = np.lexsort((rec[sel], keys))  # by tag, then by record
        tags, order = tags[local], sel[local]
        r, s, v = rec[order], step[order], val[order]
        firsts = np.flatnonzero(np.r_[True, (tags[1:] != tags[:-1]).any(axis=1)])
        names = [bytes(x).decode("utf-8", "replace") for x in tags[firsts]]
        bounds = [*firsts.tolist(), len(r)]
        for name, a, b in zip(names, bounds[:-1], bounds[1:], strict=True):
            out.append((name, r[a:b], s[a:b], v[a:b]))
    return out


def _floats(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    raw = buf[pos[:, None] + np.arange(4)].copy()
    return raw.view("<f4").reshape(-1).astype(np.float64)
