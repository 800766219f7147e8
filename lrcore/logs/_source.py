"""Where a log comes from: a path (file or folder), raw bytes, or an uploaded file object.

Only regular files are opened (a FIFO or a device would block or never end); gzip and
zip files holding one log are unpacked; UTF-16 text (a common Windows export) is decoded.
"""

from __future__ import annotations

import errno
import gzip
import io
import os
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePath

from lrcore._validate import name_list
from lrcore.logs._types import LogError

HEAD_BYTES = 65536  # how much of a file format detection looks at
# an empty tar archive is its end blocks: 10 KiB at tar's default blocking factor; a larger
# file of zeros is read no further (a 2 GiB one was read whole, 6 s, to call it a tar)
_EMPTY_TAR = 1024**2
# archives are refused as soon as they unpack to more than this: the unpacked log is held
# in memory, and its parse takes about as much again (a plain file is read where it lies)
MAX_UNPACKED = 384 * 1024**2

_KINDS = {  # stat kind -> what messages call it
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


@dataclass
class Source:
    name: str  # what messages call it: the file name, or "<bytes>"
    path: Path | None = None  # set for files on disk (parsers read them directly: faster)
    data: bytes | None = None  # set for bytes and uploads
    event_files: tuple[Path, ...] = ()  # set for a folder of TensorBoard event files
    inner: str | None = None  # the member's name when the log came out of a .gz / .zip
    notes: tuple[str, ...] = ()  # for the cleaning report: how the bytes were decoded

    @property
    def file_name(self) -> str:
        """The log's own file name (the member of an archive), for names such as tfevents."""
        return self.inner or self.name

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
        return _unpack(Source("<bytes>", data=bytes(source)))
    if hasattr(source, "read"):
        name = os.path.basename(str(getattr(source, "name", "") or "<upload>"))
        if hasattr(source, "getvalue"):  # BytesIO (a Streamlit upload): its bytes, not a copy
            data = source.getvalue()
        else:
            if hasattr(source, "seek"):
                source.seek(0)
            data = source.read()
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LogError(
                f"load_log: source.read() of {name} returned {type(data).__name__}, not bytes; "
                "pass a file opened in binary mode ('rb'), bytes or a path"
            )
        return _unpack(Source(name, data=bytes(data)))
    if isinstance(source, str | os.PathLike):
        if not os.fspath(source):
            raise LogError("load_log: the path is empty; name a log file or folder")
        path = Path(source)
        kind = _stat_kind(path)
        if kind == "dir":
            return _folder(path)
        if path.name.endswith(".npz"):
            return _npz(path)
        return _unpack(Source(path.name, path=path))
    raise LogError(
        f"load_log: source must be a path, bytes or a binary file object, got {type(source).__name__}"
    )


def _stat_kind(path: Path) -> str:
    """``"dir"`` or ``"file"``; anything else (missing, a loop, a FIFO, a device) is an error."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LogError(f"{path}: symbolic link loop (the link points back to itself)") from None
        if e.errno == errno.ENOENT:
            raise LogError(f"{path}: no such file") from None
        raise LogError(f"{path}: cannot open ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        return "dir"
    if stat.S_ISREG(st.st_mode):
        return "file"
    kind = next((what for test, what in _KINDS.items() if test(st.st_mode)), "not a regular file")
    raise LogError(f"{path}: is {kind}, not a regular file; save the log to a file first")


# --------------------------------------------------------------------------- archives, encodings


def _unpack(src: Source) -> Source:
    """Unpack gzip / zip / tar (one log inside; an archive inside an archive, one level
    deep) and decode UTF-16 into UTF-8 bytes. Archives are read as a stream that stops as
    soon as the unpacked data pass :data:`MAX_UNPACKED`, so a small file that expands to
    gigabytes (a "zip bomb") costs at most that much memory."""
    layers, previous = 0, None
    while (kind := _archive_kind(src, src.head())) is not None:
        layers += not (kind == "tar" and previous == "gzip")  # a .tar.gz is one archive
        previous = kind
        if layers > 2:
            raise LogError(
                f"{src.name}: an archive inside an archive inside an archive; lrcore unpacks "
                "one archive and one inside it: unpack the outer ones first"
            )
        src = _UNPACKERS[kind](src)
    head = src.head()
    if head[:4] in _UTF32_BOMS:
        return _from_utf32(src)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(head):
        return _from_utf16(src)
    return _from_cp1252(src, head)


def _archive_kind(src: Source, head: bytes) -> str | None:
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip (or an empty one)
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    empty_tar_size = len(head) >= 1024 and src.size() % 512 == 0 and src.size() <= _EMPTY_TAR
    if empty_tar_size and _all_zero(src, head):
        return "tar"  # an empty tar archive is only its end-of-archive blocks of zeros
    return None


def _all_zero(src: Source, head: bytes) -> bool:
    """Whether every byte of the file is zero (read in pieces, never held whole)."""
    if head.count(0) != len(head):
        return False
    if src.data is not None:
        return src.data.count(0) == len(src.data)
    with open(src.path, "rb") as f:
        while chunk := f.read(_CHUNK):
            if chunk.count(0) != len(chunk):
                return False
    return True


def _stream(opener, name: str, what: str, compressed: int) -> bytes:
    """Read a decompressing stream in 1 MiB pieces; refuse as soon as it passes the cap.
    The pieces go into one growing buffer whose bytes are returned without a copy (a list
    of pieces joined at the end held the unpacked log twice at the join)."""
    out, total = io.BytesIO(), 0
    with opener() as f:
        while chunk := f.read(_CHUNK):
            total += len(chunk)
            if total > MAX_UNPACKED:
                del out
                raise LogError(
                    f"{name}: {what} unpacks to more than {MAX_UNPACKED // 1024**2:,} MiB "
                    f"(from {_size(compressed)} compressed; stopped there); lrcore reads "
                    f"compressed logs of up to {MAX_UNPACKED // 1024**2:,} MiB unpacked: "
                    "unpack it and pass the plain file, which is read where it lies"
                )
            out.write(chunk)
    return out.getvalue()


def _size(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB" if n >= 1024**2 else f"{n:,} bytes"


def _fileobj(src: Source):
    """The compressed bytes as a file: the file on disk itself (never read whole) or the
    upload's bytes."""
    return open(src.path, "rb") if src.data is None else io.BytesIO(src.data)


def _gunzip(src: Source) -> Source:
    inner = PurePath(src.file_name).stem if src.file_name.endswith(".gz") else src.file_name
    try:
        with _fileobj(src) as raw:
            data = _stream(lambda: gzip.GzipFile(fileobj=raw), src.name, "gzip", src.size())
    except (OSError, EOFError, zlib.error) as e:
        raise LogError(f"{src.name}: a damaged gzip file ({e})") from None
    return Source(src.name, data=data, inner=inner)


_IGNORED = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")


def _ignored(member: str) -> bool:
    """Files that macOS Finder and Windows Explorer add to archives (not logs)."""
    base = PurePath(member).name
    return (
        member.startswith("__MACOSX/")
        or "/__MACOSX/" in member
        or base.startswith("._")
        or (base in _IGNORED)
    )


def _the_one_log(src: Source, archive: str, members: list, names: list[str], entries: list[str]):
    """The single member of an archive that must hold exactly one log (else a LogError);
    ``entries`` names everything the archive holds (folders and macOS extras too)."""
    if not entries:
        raise LogError(f"{src.name}: an empty {archive.removeprefix('a ')} with no log inside")
    if not members:
        raise LogError(
            f"{src.name}: {archive} with no log inside, only folders or macOS / Windows "
            f"extras: {name_list(entries)}"
        )
    if len(members) != 1:
        raise LogError(
            f"{src.name}: {archive} must hold exactly one log, found {len(members)}"
            + (f": {name_list(names)}" if members else "")
        )
    return members[0]


def _unzip(src: Source) -> Source:
    try:
        with _fileobj(src) as raw, zipfile.ZipFile(raw) as z:
            members = [m for m in z.infolist() if not m.is_dir() and not _ignored(m.filename)]
            if any(m.filename.startswith("xl/") for m in members) and any(
                m.filename == "[Content_Types].xml" for m in members
            ):
                raise LogError(
                    f"{src.name}: an Excel workbook, not a log; save the sheet as CSV "
                    "(File > Save As > CSV) and pass that file"
                )
            names = [m.filename for m in members]
            if len(members) > 1 and all(n.endswith(".npy") for n in names):
                raise LogError(
                    f"{src.name}: a NumPy .npz archive; lrcore reads the per-step norms it "
                    "keeps beside a checkpoint (lrcore_grad_norms.npz) through that "
                    "checkpoint: pass its folder or its trainer_state.json"
                )
            m = _the_one_log(src, "a zip file", members, names, z.namelist())
            if m.flag_bits & 0x1:
                raise LogError(
                    f"{src.name}: {m.filename!r} is encrypted (a password-protected zip); "
                    "unzip it with its password and pass the file"
                )
            data = _stream(lambda: z.open(m), src.name, f"zip member {m.filename!r}", src.size())
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as e:
        raise LogError(f"{src.name}: a damaged or unsupported zip file ({e})") from None
    return Source(f"{src.name}:{m.filename}", data=data, inner=PurePath(m.filename).name)


def _untar(src: Source) -> Source:
    try:
        with _fileobj(src) as raw, tarfile.open(fileobj=raw, mode="r:") as t:
            members = [m for m in t.getmembers() if m.isfile() and not _ignored(m.name)]
            names = [m.name for m in members]
            m = _the_one_log(src, "a tar archive", members, names, t.getnames())
            data = _stream(lambda: t.extractfile(m), src.name, f"tar member {m.name!r}", src.size())
    except (tarfile.TarError, OSError, EOFError) as e:
        raise LogError(f"{src.name}: a damaged tar archive ({e})") from None
    return Source(f"{src.name}:{m.name}", data=data, inner=PurePath(m.name).name)


_UNPACKERS = {"gzip": _gunzip, "zip": _unzip, "tar": _untar}
_CHUNK = 1024**2


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 text without a byte-order mark: every other byte of ASCII text is zero."""
    sample = head[:512]
    if len(sample) < 4 or b"\x00" not in sample:
        return False
    even, odd = sample[0::2], sample[1::2]
    return (even.count(0) == 0 and odd.count(0) >= 0.9 * len(odd)) or (
        odd.count(0) == 0 and even.count(0) >= 0.9 * len(even)
    )


def _read_all(src: Source) -> bytes:
    return src.data if src.data is not None else src.path.read_bytes()


_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


def _from_utf32(src: Source) -> Source:
    """UTF-32 text with a byte-order mark, as UTF-8 bytes (refused when it does not decode)."""
    try:
        text = _read_all(src).decode("utf-32")
    except UnicodeDecodeError as e:
        raise LogError(
            f"{src.name}: starts with a UTF-32 byte-order mark but is not UTF-32 text "
            f"(byte {e.start:,}); save the log as UTF-8"
        ) from None
    note = "read as UTF-32 text (decoded by its byte-order mark)"
    return Source(src.name, data=text.encode("utf-8"), inner=src.inner, notes=(note,))


def _from_cp1252(src: Source, head: bytes) -> Source:
    """Text that is not UTF-8 but is Windows-1252 (a CSV saved by Excel on Windows, a header
    with "\u00b5" or "\u00e9"), as UTF-8 bytes with a note; anything else as it is (detection
    says what it is not). Only the head decides whether to look: a file whose head is UTF-8
    is never read whole here."""
    if b"\x00" in head or "tfevents" in src.file_name:
        return src
    try:
        head.decode("utf-8-sig")
        return src
    except UnicodeDecodeError as e:
        if src.size() > len(head) and e.start >= len(head) - 4:
            return src  # the head ends inside a multi-byte character: UTF-8 so far
    raw = _read_all(src)
    try:
        raw.decode("utf-8-sig")
        return src
    except UnicodeDecodeError as e:
        at = e.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return src  # a byte Windows-1252 leaves undefined: not such a text file
    sample = text[:2000]
    if sum(c.isascii() for c in sample) < 0.9 * len(sample) or any(
        c < " " and c not in "\t\r\n" for c in sample
    ):
        return src  # logs are mostly ASCII with no control characters
    shown = raw[at : at + 1].decode("cp1252")
    note = (
        f"not UTF-8 (byte {at:,} is 0x{raw[at]:02X}): read as Windows-1252, the encoding "
        f"Excel saves CSV in, where it is {shown!r}; save the file as UTF-8 (Excel: "
        "'CSV UTF-8') if a name looks wrong"
    )
    return Source(src.name, data=text.encode("utf-8"), inner=src.inner, notes=(note,))


def _from_utf16(src: Source) -> Source:
    raw = _read_all(src)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    else:
        encoding = "utf-16-le" if raw[1:2] == b"\x00" else "utf-16-be"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return src  # not UTF-16 after all: detection says what it is not
    sample = text[:2000]
    if sum(c.isascii() for c in sample) < 0.9 * len(sample):
        return src  # logs are mostly ASCII; binary that happens to start with FF FE is not
    return Source(src.name, data=text.encode("utf-8"), inner=src.inner)


# --------------------------------------------------------------------------- folders


def _folder(path: Path) -> Source:
    """The log a folder holds: a checkpoint's ``trainer_state.json`` (its reader prefers
    the per-step norms lrcore stored), lrcore's ``grad_norms.csv``, the latest
    ``checkpoint-N`` of a Hugging Face output folder, TensorBoard event files, or the one
    ``grad_norms.csv`` / ``metrics.csv`` somewhere below."""
    for name in ("trainer_state.json", "grad_norms.csv"):
        if (path / name).is_file():
            return Source(f"{path.name}/{name}", path=path / name)
    checkpoints = sorted(
        (int(m[1]), p)
        for p in path.glob("checkpoint-*")
        if (m := _CHECKPOINT.fullmatch(p.name)) and (p / "trainer_state.json").is_file()
    )
    if checkpoints:
        last = checkpoints[-1][1]
        note = (
            f"read {last.name}/trainer_state.json, the latest of {len(checkpoints):,} "
            f"checkpoint(s) in {path.name}"
        )
        return Source(
            f"{path.name}/{last.name}/trainer_state.json",
            path=last / "trainer_state.json",
            notes=(note,),
        )
    events = tuple(sorted(p for p in path.rglob("*tfevents*") if p.is_file()))
    if events:
        runs = sorted({p.parent for p in events})
        if len(runs) > 1:
            names = name_list(str(r.relative_to(path)) or "." for r in runs)
            raise LogError(
                f"{path}: holds {len(runs)} TensorBoard runs ({names}); give the folder of one run"
            )
        return Source(path.name, path=path, event_files=events)
    for name in ("grad_norms.csv", "metrics.csv"):  # a saved lrcore run; a Lightning log dir
        found = sorted(path.rglob(name))
        if len(found) == 1:
            return Source(f"{path.name}/{found[0].relative_to(path)}", path=found[0])
    raise LogError(
        f"{path}: folder holds no TensorBoard event files (events.out.tfevents.*), "
        "no trainer_state.json or checkpoint-N folder and no single grad_norms.csv or "
        "metrics.csv"
    )


_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


def _npz(path: Path) -> Source:
    """lrcore's per-step norms beside a checkpoint's trainer_state.json: read through it."""
    state = path.parent / "trainer_state.json"
    if not state.is_file():
        raise LogError(
            f"{path}: lrcore's per-step norms of a Hugging Face checkpoint are read with the "
            "trainer_state.json beside them; pass the checkpoint folder"
        )
    return Source(f"{path.parent.name}/trainer_state.json", path=state)
