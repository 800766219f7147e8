"""Where the CLI writes (``--out``): never a file it reads, never something that blocks, and
always through a temporary file renamed into place, so a failed write leaves the old file.

``check_out`` runs before any work (a training run, a parse): it resolves ``--out`` and every
file the command will read (the members of a folder input included), and compares them by
path and by inode (a hard link or a symbolic link to the input is the input). It also refuses
a trailing ``/`` for a command that writes one file (a folder; it wrote a file of that name),
takes ``/dev/null`` as "write nowhere", and locks the target for the command (a second
command writing the same ``--out`` at the same time is refused, naming the first one's pid).

Output is written in chunks (:func:`write_out`): to stdout as it is made, so a reader that
leaves (``| head -1``) stops the command at its next write (:func:`pipe_closed`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lrcore._text import for_terminal

_KINDS = {
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def _kind(st: os.stat_result) -> str | None:
    return next((what for test, what in _KINDS.items() if test(st.st_mode)), None)


def input_files(path) -> list[Path]:
    """Every regular file a log path may make a command read: the file, or each file under
    a folder (a TensorBoard run's event files, a saved run's ``grad_norms.csv``, ...)."""
    p = Path(path)
    try:
        if p.is_dir():
            return [q for q in p.rglob("*") if q.is_file()]
    except OSError:
        return [p]
    return [p]


def check_input_file(what: str, path, max_bytes: int, hint: str = "") -> None:
    """Refuse, before reading it, an input that exists and is no regular file (a device such
    as /dev/zero, a FIFO: reading never ends or blocks) or is larger than ``max_bytes``; a
    missing file is left to the reader's own message. ``what`` names the option."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return
    shown = for_terminal(str(path))
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{what}: {shown} is a folder; name a file")
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st) or "not a regular file"
        raise ValueError(f"{what}: {shown} is {kind}, not a regular file; save it to a file first")
    if st.st_size > max_bytes:
        raise ValueError(
            f"{what}: {shown} is {_mib(st.st_size)}; a file here may be at most "
            f"{_mib(max_bytes)}{hint}"
        )


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB" if n >= 10 * 1024**2 else f"{n / 1024**2:,.1f} MiB"


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def check_out(
    fn: str, out: str | None, inputs: Iterable = (), *, writes: tuple[str, ...] = ()
) -> Path | None:
    """Refuse an ``--out`` that would destroy an input, block, or cannot be written.

    ``inputs`` are the paths the command reads (files or folders); ``writes`` names the
    files written inside ``--out`` when it is a folder the command fills (``lrcore run``).
    Returns the path, or None when there is no ``--out`` (stdout). Every refusal is a
    ValueError naming ``--out``.
    """
    if out is None:
        return None
    shown = for_terminal(out)
    if not out.strip():
        raise ValueError(f"{fn}: --out is empty; name a file (or leave --out out for stdout)")
    if is_null(out):
        return Path(os.devnull)  # written nowhere (write_atomic and write_out skip it)
    target = Path(out)
    folder = bool(writes)
    if out.endswith(("/", os.sep)) and not folder:  # Path() drops the slash: a file "newdir"
        raise ValueError(
            f"{fn}: --out {shown} ends with '/', so it names a folder, and {fn} writes one "
            "file; name a file (inside that folder if you like)"
        )
    st_out = _stat(target)
    slash = out.endswith(("/", os.sep))  # Path() dropped it: /dev/null/ -> /dev/null
    if st_out is not None and folder and slash and not stat.S_ISDIR(st_out.st_mode):
        what = _kind(st_out) or "a file"
        raise ValueError(
            f"{fn}: --out {shown} ends with '/', so it names a folder, but "
            f"{for_terminal(str(target))} is {what}; name a folder to save the run in "
            "(or /dev/null, without the '/', to write nowhere)"
        )
    if st_out is not None:
        kind = _kind(st_out)
        if kind is not None:
            raise ValueError(f"{fn}: --out {shown} is {kind}; name a regular file")
        if os.path.abspath(out).startswith(("/dev/", "/proc/")):
            # /dev/stdout -> /proc/self/fd/1 -> a redirected file: the rename replaced the
            # system's /dev/stdout link with a plain file (as root)
            raise ValueError(
                f"{fn}: --out {shown} is a special file (under /dev or /proc); name a regular "
                "file (leave --out out to write to stdout)"
            )
        if stat.S_ISDIR(st_out.st_mode) and not folder:
            raise ValueError(f"{fn}: --out {shown} is a folder; name a file inside it")
        if stat.S_ISREG(st_out.st_mode) and folder:
            raise ValueError(f"{fn}: --out {shown} is a file; name a folder to save the run in")
    targets = [target / w for w in writes] if folder else [target]
    for t in targets:
        st_t = _stat(t) if folder else st_out
        if folder and st_t is not None and _kind(st_t) is not None:
            raise ValueError(f"{fn}: --out {shown}: {for_terminal(t)} is {_kind(st_t)}")
        _not_an_input(fn, shown, t, st_t, inputs, folder)
    _probe(fn, target, shown, folder)
    _lock(fn, target, shown)
    return target


def is_null(path) -> bool:
    """Whether ``path`` is the null device (``/dev/null``, or a link to it)."""
    try:
        st, null = os.stat(path), os.stat(os.devnull)
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


_HELD: dict[str, tuple[int, str]] = {}  # the --out locks this process holds: key -> (fd, file)


def _lock(fn: str, target: Path, shown: str) -> None:
    """Lock ``target`` for this command (until :func:`release_locks`), or refuse it when
    another process holds it. The lock file lives in a per-user folder under the system's
    temporary folder, named by a hash of the target's real path (no file beside the user's
    output; a path spelt through a link is the same target). Without ``fcntl`` or that folder
    the write stays atomic, only not serialised."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    lock = lock_file(target)
    key, where, name = lock.stem, lock.parent, str(lock)
    if key in _HELD:
        return
    for _ in range(10):  # the file may be removed by its holder between open and flock
        try:
            where.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 20).decode("ascii", "replace").strip()
            os.close(fd)
            who = f"pid {holder}" if holder.isdigit() else "still running"
            raise ValueError(
                f"{fn}: --out {shown} is being written by another lrcore command ({who}); "
                "wait for it to finish or choose another path"
            ) from None
        now = _stat(Path(name))
        if now is not None and _same(os.fstat(fd), now):
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            _HELD[key] = (fd, name)
            return
        os.close(fd)  # locked a file its holder had just removed: lock the new one


atexit.register(lambda: release_locks())  # a library caller that never releases its locks


def lock_file(target) -> Path:
    """Where the lock of an ``--out`` target lives (see :func:`check_out`)."""
    key = hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:24]
    return (
        Path(tempfile.gettempdir())
        / f"lrcore-locks-{getattr(os, 'getuid', lambda: 0)()}"
        / f"{key}.lock"
    )


def release_locks() -> None:
    """Release every ``--out`` lock this process holds (the CLI calls it as a command ends);
    each lock file is removed while still locked, so no one can lock a removed file."""
    while _HELD:
        _, (fd, name) = _HELD.popitem()
        with contextlib.suppress(OSError):
            os.unlink(name)
        os.close(fd)


def _stat(p: Path) -> os.stat_result | None:
    try:
        return os.stat(p)
    except OSError:
        return None


def _not_an_input(
    fn: str, shown: str, t: Path, st_t, inputs: Iterable, folder: bool = False
) -> None:
    """``t`` (a file the command will write) is no input file, by path or by inode, and lies
    inside no input folder."""
    resolved = _real(t)
    for given in inputs:
        if given is None or str(given) == "":
            continue
        root = Path(given)
        root_resolved = _real(root)
        if root.is_dir() and root_resolved in resolved.parents:
            raise ValueError(
                f"{fn}: --out {shown} is inside the input folder {for_terminal(given)}; "
                "choose a path outside it"
            )
        for f in input_files(root):
            st_in = _stat(f)
            if _real(f) == resolved or (
                st_t is not None and st_in is not None and _same(st_t, st_in)
            ):
                if folder:  # t is a file the command writes inside the --out folder
                    raise ValueError(
                        f"{fn}: --out {shown} would replace the input {for_terminal(f)} (it "
                        f"writes {t.name} there); choose another folder"
                    )
                what = "the input" if f == root else f"{for_terminal(f)}, read from the input"
                raise ValueError(f"{fn}: --out {shown} is {what}; choose another file")


def _real(p: Path) -> Path:
    """``p`` with every symbolic link followed; a link loop (``Path.resolve`` raises
    RuntimeError) stays as it is, for the reader to refuse by name."""
    return Path(os.path.realpath(p))


def _probe(fn: str, target: Path, shown: str, folder: bool) -> None:
    """Create (and remove) a temporary file where the output will go: a path that cannot be
    written fails now, before the work, not after it."""
    where = target if folder and target.is_dir() else _real(target).parent
    while folder and not where.exists() and where != where.parent:
        where = where.parent  # lrcore run creates the missing folders
    try:
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".lrcore-probe-")
    except OSError as e:
        raise ValueError(
            f"{fn}: --out {shown} cannot be written ({e.strerror or e}); choose another path"
        ) from None
    os.close(fd)
    os.unlink(tmp)


def write_atomic(path, data: bytes | Iterable[bytes], fn: str = "") -> None:
    """Write ``data`` (bytes, or chunks of bytes) to a temporary file beside ``path``, then
    rename it over ``path``: a failed or interrupted write leaves the old file whole. Keeps an
    existing file's mode. The null device is written nowhere (the chunks are not made). Any
    other special file or folder is refused (``fn``: the public function called, named in
    the error with its ``path`` parameter)."""
    if str(path).endswith(("/", os.sep)):  # Path() drops the slash: it wrote a file "newdir"
        raise ValueError(
            f"{for_terminal(str(path))}: ends with '/', so it names a folder; name a file to write"
        )
    if is_null(path):
        if hasattr(data, "close"):
            data.close()  # a generator: none of its chunks is made
        return
    path = _real(Path(path))  # through a symbolic link: the file it names is replaced, not the link
    st = _stat(path)
    # never replace what is not a regular file: as root, the rename turned /dev/zero into a
    # JSON file (lrcore.export.to_json(..., path="/dev/zero"))
    where = f"{fn}: path {for_terminal(str(path))}" if fn else for_terminal(str(path)) + ":"
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else (_kind(st) or "not a regular file")
        raise ValueError(f"{where} is {kind}; name a regular file to write")
    if str(path.resolve()).startswith(("/dev/", "/proc/", "/sys/")):
        raise ValueError(f"{where} is under /dev, /proc or /sys; name a regular file to write")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in [data] if isinstance(data, bytes | bytearray) else data:
                    f.write(chunk)
        except OSError as e:  # a full disk: name the file (the write's error names none)
            if e.filename is None and e.errno is not None:
                raise OSError(e.errno, e.strerror, str(path)) from None
            raise
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_out(path, chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` (:func:`write_atomic`), or to stdout when ``path`` is None,
    each chunk as soon as it is made: a closed pipe raises BrokenPipeError at the next chunk
    (see :func:`pipe_closed`), instead of after the whole output was built."""
    if path is not None:
        write_atomic(path, chunks)
        return
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a text-only stream (a test capturing output)
        for chunk in chunks:
            sys.stdout.write(chunk.decode())
        return
    for chunk in chunks:
        view = memoryview(chunk)
        while view:  # os.write may write part of a chunk (a pipe whose reader just left)
            view = view[os.write(fd, view) :]


EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


def pipe_closed() -> int:
    """After a BrokenPipeError on stdout (the reader left: ``lrcore schedule ... | head -1``):
    point stdout at the null device, so that Python's final flush raises nothing, and return
    the exit status (the Python documentation's recipe, "Note on SIGPIPE")."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    return EXIT_PIPE
