"""Unpacking a compressed log holds its unpacked bytes once (issue 18, item 4): the
streaming reader in lrcore/logs/_source.py must not keep its pieces and their join at the
same time (that doubled the server's peak for a large real .csv.gz upload)."""

from __future__ import annotations

import gzip
import io
import tracemalloc

from lrcore.logs import _source

MiB = 1024**2


def test_a_gzip_unpacks_to_the_same_bytes_holding_them_about_once():
    rows = b"".join(f"{i},{1 + 1 / (i + 1):.17g}\n".encode() for i in range(40_000))
    body = b"step,grad_norm\n" + rows * (32 * MiB // len(rows))  # about 32 MiB
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=1) as f:
        f.write(body)
    upload = io.BytesIO(packed.getvalue())
    upload.name = "run.csv.gz"
    tracemalloc.start()
    try:
        src = _source.open_source(upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert src.data == body and src.inner == "run.csv"
    # the unpacked bytes once, plus the buffer's growth margin and one piece in flight
    # (a list of pieces joined at the end peaks at twice the body)
    assert peak < 1.4 * len(body), (peak / MiB, len(body) / MiB)
