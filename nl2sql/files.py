"""Writing files people keep (semantic layers, data dictionaries) without ever leaving half
of one: a temporary file in the same folder, fsync, rename, fsync of the folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from nl2sql.errors import ConfigError


def write_atomic(path: Path, text: str, keep_mode: bool = True) -> None:
    """Replace ``path`` with ``text`` (UTF-8, line ends as given): a crash or a full disk
    leaves the old file or the new one, never a mix. Errors are one-line ConfigErrors.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(target, "hello"); target.read_text()
    'hello'
    """
    real = Path(os.path.realpath(path))
    mode = real.stat().st_mode & 0o7777 if keep_mode and real.exists() else 0o666 & ~umask()
    try:
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(real.parent)


def write_private(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text``, readable by its owner only (0600, folders 0700
    whatever the umask), all or nothing. For caches: best effort, no fsync (a lost cache is
    rebuilt), and False instead of an error, so failing to cache never fails a question.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "cache" / "a.json"
    >>> write_private(target, "{}"), oct(target.stat().st_mode & 0o777)
    (True, '0o600')
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # an older tmp file may have had another mode
            out.write(text)
        tmp.replace(path)
    except OSError:
        return False
    return True


def stat_key(path: Path) -> list[int] | None:
    """What changes whenever the file does (a rewrite in place changes ctime even when size
    and modification time were kept); None when it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def refuse_overwriting(path: Path, protected: Iterable[str | Path | None], what: str) -> None:
    """Refuse to write ``path`` when it is one of the ``protected`` files (a database being
    read, its write-ahead log, the extraction workspace) — by name, through a symbolic link,
    or as a hard link to the same file. ``what`` names the output in the message.

    >>> import tempfile, pathlib, os
    >>> folder = pathlib.Path(tempfile.mkdtemp()); db = folder / "shop.duckdb"
    >>> _ = db.write_text("data"); os.link(db, folder / "notes.md")
    >>> try:
    ...     refuse_overwriting(folder / "notes.md", [db], "--output")
    ... except ConfigError as exc:
    ...     print(exc.message)
    refusing to write --output notes.md: it is the database file shop.duckdb (a link to it);
    choose another file
    """
    for item in protected:
        if not item:
            continue
        guarded = Path(item)
        for candidate in (guarded, Path(f"{guarded}.wal")):
            if same_file(path, candidate):
                link = "" if path.resolve() == candidate.resolve() else " (a link to it)"
                raise ConfigError(f"refusing to write {what} {path.name}: it is the database file "
                                  f"{candidate.name}{link}; choose another file")


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: same name, a symbolic link or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # either does not exist (yet): compare where the names lead
        return os.path.realpath(a) == os.path.realpath(b)


def umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename itself durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
