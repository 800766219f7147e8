"""Where a log comes from: a path (file or folder), raw bytes, or an uploaded file object."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from lrcore.logs._types import LogError

HEAD_BYTES = 65536  # how much of a file format detection looks at


@dataclass
class Source:
    name: str  # what messages call it: the file name, or "<bytes>"
    path: Path | None = None  # set for files on disk (parsers read them directly: faster)
    data: bytes | None = None  # set for bytes and uploads
    event_files: tuple[Path, ...] = ()  # set for a folder of TensorBoard event files

    def head(self) -> bytes:
        if self.data is not None:
            return self.data[:HEAD_BYTES]
        with open(self.path, "rb") as f:
            return f.read(HEAD_BYTES)

    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path)

    def buffer(self):
        """Something pandas can read: the path, or a bytes buffer."""
        return str(self.path) if self.data is None else io.BytesIO(self.data)

    def text(self) -> str:
        raw = self.data if self.data is not None else self.path.read_bytes()
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise LogError(f"{self.name}: not UTF-8 text (byte {e.start})") from None


def open_source(source) -> Source:
    """Accept a path (str or Path; file or folder), bytes, or a binary file-like with ``.name``."""
    if isinstance(source, bytes | bytearray | memoryview):
        return Source("<bytes>", data=bytes(source))
    if hasattr(source, "read"):
        name = os.path.basename(str(getattr(source, "name", "") or "<upload>"))
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read()
        if isinstance(data, str):
            data = data.encode()
        return Source(name, data=data)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            return _folder(path)
        if not path.exists():
            raise LogError(f"{path}: no such file")
        return Source(path.name, path=path)
    raise LogError(
        f"load_log: source must be a path, bytes or a binary file object, got {type(source).__name__}"
    )


def _folder(path: Path) -> Source:
    events = tuple(sorted(p for p in path.rglob("*tfevents*") if p.is_file()))
    if events:
        return Source(path.name, path=path, event_files=events)
    for name in ("grad_norms.csv", "metrics.csv"):  # a saved lrcore run; a Lightning log dir
        found = sorted(path.rglob(name))
        if len(found) == 1:
            return Source(f"{path.name}/{found[0].relative_to(path)}", path=found[0])
    raise LogError(
        f"{path}: folder holds no TensorBoard event files (events.out.tfevents.*) "
        "and no single grad_norms.csv or metrics.csv"
    )
