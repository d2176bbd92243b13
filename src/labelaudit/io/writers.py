"""Writers: every output file is written atomically, and a whole output set is published at once.

A reader never sees a half-written file: each file is written to a temporary
name in the same directory and renamed over its target (:func:`atomic_write`).
:func:`publish` writes a whole set of outputs into a fresh folder beside the
output folder and swaps it in with one atomic rename, under a lock on the
output folder (:func:`output_lock`): readers see every file of one run or
every file of the previous one, never a mix, whatever stops the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as _dt
import errno
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import stat
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

from ..exceptions import LabelAuditWarning, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock (documented in output_lock)
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "PUBLISHED",
    "atomic_write",
    "output_lock",
    "publish",
    "write_csv",
    "write_json",
    "write_output",
    "write_parquet",
    "write_text",
]

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the block succeeds.

    The temporary file lives in the same directory (so the final
    :func:`os.replace` is atomic), is flushed and fsynced before the rename,
    and is created with the default permissions (``0o666`` minus the umask).
    If the block raises, the temporary file is deleted and any previous file at
    ``path`` is left untouched.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"w", "wb"}, default "w"
        Text (UTF-8) or binary.

    Yields
    ------
    file object
        Writable file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    _step(f"create {path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            _step(f"fsync {path.name}")
            os.fsync(fh.fileno())
        _step(f"rename {path.name}")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Persist a rename on POSIX; a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically write UTF-8 text.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    text : str
        Content.
    """
    with atomic_write(path, "w") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (key order kept).

    NumPy scalars and arrays, paths, dates, dataclasses and sets are converted
    to plain JSON values; NaN and infinite floats are written as ``null``
    (JSON has no representation for them).

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    obj : object
        JSON-compatible data.
    """
    text = json.dumps(_jsonable(obj), indent=2, sort_keys=False, allow_nan=False)
    write_text(path, text + "\n")


def _jsonable(obj: Any) -> Any:
    """Recursively convert ``obj`` to JSON-safe builtins (non-finite floats -> None)."""
    if isinstance(obj, bool | str | int) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {_json_key(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list) and _plain_numbers(obj):
        return list(obj)  # a row of a matrix: nothing to convert, element by element
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, _dt.date | _dt.datetime | _dt.time):
        return obj.isoformat()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    raise TypeError(f"write_json: cannot serialise object of type {type(obj).__name__}")


def _plain_numbers(values: list) -> bool:
    """True when every item is a finite built-in float or a built-in int (not a bool)."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return all(map(math.isfinite, values))
    return kinds == {int}


def _json_key(key: Any) -> Any:
    """Make a mapping key acceptable to :mod:`json` (NumPy scalars become builtins)."""
    if isinstance(key, np.generic):
        key = key.item()
    return key if isinstance(key, str | int | float | bool) or key is None else str(key)


def write_parquet(path: str | os.PathLike[str], df: pl.DataFrame) -> None:
    """Atomically write a DataFrame as Parquet.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    df : polars.DataFrame
        Table to write.
    """
    with atomic_write(path, "wb") as fh:
        df.write_parquet(fh)


def write_csv(path: str | os.PathLike[str], df: pl.DataFrame) -> None:
    """Atomically write a DataFrame as CSV, neutralising spreadsheet formulas.

    Spreadsheet programs execute cells that start with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return (CSV/formula injection). Every string
    cell (and column name) that begins with one of these characters gets a
    leading single quote ``'``, so it is shown as text. Numeric columns are
    written unchanged, so negative numbers stay numbers.

    Parameters
    ----------
    path : str or os.PathLike
        Destination.
    df : polars.DataFrame
        Table to write. Nested columns (lists, arrays, structs), which CSV
        cannot hold, are written as JSON text.
    """
    nested = [c for c, dtype in df.schema.items() if dtype.is_nested()]
    if nested:
        df = df.with_columns(
            pl.Series(c, [None if v is None else json.dumps(v, default=str)
                          for v in df.get_column(c).to_list()], dtype=pl.String)
            for c in nested
        )
    safe = df.with_columns(
        _neutralise_expr(c)
        for c, dtype in df.schema.items()
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    )
    safe = safe.rename({c: _neutralise(c) for c in safe.columns})
    with atomic_write(path, "wb") as fh:
        safe.write_csv(fh)


def _neutralise_expr(column: str) -> pl.Expr:
    """Expression that prefixes a quote to formula-like cells of a text column."""
    text = pl.col(column).cast(pl.String)
    risky = pl.any_horizontal(text.str.starts_with(p) for p in _FORMULA_PREFIXES)
    return pl.when(risky).then(pl.lit("'") + text).otherwise(text).alias(column)


def _neutralise(text: str) -> str:
    """Prefix a quote to text a spreadsheet would evaluate as a formula."""
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def remove_formula_guard(df: pl.DataFrame) -> pl.DataFrame:
    """Undo :func:`write_csv`'s formula guard on a table read back from its CSV.

    A text cell (or column name) that is a single quote followed by text
    starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return loses
    that quote: it is what :func:`write_csv` wrote for the text without it.
    Cells the guard did not touch, and cells a spreadsheet saved without the
    quote, are unchanged.

    Parameters
    ----------
    df : polars.DataFrame
        A table read from a CSV file labelaudit wrote (such as
        ``review_sample.csv``), edited or not.

    Returns
    -------
    polars.DataFrame

    Examples
    --------
    >>> t = pl.DataFrame({"id": ["'@ann", "bob", "'x"], "label": ["'-1", "+1", "'+1"]})
    >>> remove_formula_guard(t).rows()
    [('@ann', '-1'), ('bob', '+1'), ("'x", '+1')]
    """

    def guarded(text: pl.Expr) -> pl.Expr:
        return pl.any_horizontal(text.str.starts_with("'" + p) for p in _FORMULA_PREFIXES)

    text_columns = [c for c, dtype in df.schema.items() if dtype == pl.String]
    out = df.with_columns(
        pl.when(guarded(pl.col(c))).then(pl.col(c).str.slice(1)).otherwise(pl.col(c)).alias(c)
        for c in text_columns
    )
    return out.rename({c: c[1:] for c in out.columns
                       if c.startswith("'") and c[1:].startswith(_FORMULA_PREFIXES)})


def write_output(path: str | os.PathLike[str], content: Any) -> None:
    """Atomically write one output, in the format its file name ends with.

    Parameters
    ----------
    path : str or os.PathLike
        Destination: ``.parquet`` and ``.csv`` take a polars DataFrame
        (:func:`write_parquet`, :func:`write_csv`), ``.json`` JSON-able data
        (:func:`write_json`), anything else text (:func:`write_text`).
    content : object
        What to write.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        write_parquet(path, content)
    elif suffix == ".csv":
        write_csv(path, content)
    elif suffix == ".json":
        write_json(path, content)
    else:
        write_text(path, content)


# --------------------------------------------------------------------------- publishing a set
# Layout beside the output folder OUT (all in OUT's parent, so every rename stays on one
# file system):
#   .OUT.labelaudit-lock          lock of OUT (flock) and the journal of the run holding it
#   .OUT.labelaudit-run-TOKEN     the new set, written here in full, then swapped with OUT
#   .OUT.labelaudit-old-TOKEN     the previous set, only while the two-rename fallback runs
# and beside a JUnit file J outside OUT: .J.labelaudit-TOKEN.tmp, J's staged replacement.

_RUN, _OLD, _LOCK = "run", "old", "lock"
_TOKEN = re.compile(r"[0-9a-f]{16}")
_LEGACY_TEMP = re.compile(r"\.labelaudit-staging-.*|\..+\.[0-9a-f]{12}\.tmp")
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2

#: Test-only fault hook: ``None`` in normal use. When set, it is called with a short label
#: before every file-system step of :func:`publish` and :func:`atomic_write` (the
#: fault-injection tests kill the process there); it never changes what is written.
_FAULT_HOOK: Callable[[str], None] | None = None

#: Output folders this process has published in full, in order (the CLI reads it to say
#: truthfully whether an interrupted run had already replaced its outputs).
PUBLISHED: list[Path] = []

_HELD: dict[Path, _OutputLock] = {}


def _step(label: str) -> None:
    if _FAULT_HOOK is not None:
        _FAULT_HOOK(label)


def _load_renameat2() -> Callable[..., int] | None:
    """``renameat2`` from the C library, or None where there is none (not Linux, old libc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_RENAMEAT2 = _load_renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap the two existing paths in one step; False where the system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM):
        return False  # the file system (or a sandbox) has no exchange: use two renames
    raise OSError(err, os.strerror(err), os.fspath(b))


def _resolve(out: str | os.PathLike[str]) -> Path:
    """The real folder ``out`` names (a symlinked folder is published where it points)."""
    return Path(os.path.realpath(os.fspath(out)))


def _key(target: Path) -> str:
    name = target.name
    return name if len(os.fsencode(name)) <= 180 else hashlib.sha256(os.fsencode(name)).hexdigest()


def _sibling(target: Path, kind: str, token: str = "") -> Path:
    suffix = f"-{token}" if token else ""
    return target.parent / f".{_key(target)}.labelaudit-{kind}{suffix}"


def _leftovers(target: Path) -> list[Path]:
    """Run and old folders a killed run left beside ``target``."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(target.parent):
            for kind in (_RUN, _OLD):
                prefix = f".{_key(target)}.labelaudit-{kind}-"
                if entry.startswith(prefix) and _TOKEN.fullmatch(entry[len(prefix):]):
                    found.append(target.parent / entry)
    return sorted(found)


def _remove(path: Path) -> None:
    _step(f"remove {path.name}")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _identity(path: Path) -> list[int] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return [st.st_dev, st.st_ino]


class _OutputLock:
    """The lock on one output folder, held by this process (see :func:`output_lock`)."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.shown = os.fspath(out)
        self.target = _resolve(out)
        self.path = _sibling(self.target, _LOCK)
        self.fd = -1
        self.depth = 0
        self.pending = False  # the journal records a run the next one may have to finish
        self.created: list[Path] = []

    def acquire(self) -> None:
        parent = self.target.parent
        missing = []
        for p in (parent, *parent.parents):
            if p.exists():
                break
            missing.append(p)
        try:
            if missing:
                _step("create parent")
                parent.mkdir(parents=True, exist_ok=True)
                self.created = missing
            while True:
                _step("open lock")
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                             0o666)
                try:
                    if fcntl is not None:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 4096, 0)
                    os.close(fd)
                    pid = _journal_of(holder).get("pid")
                    raise OutputError(
                        f"output folder '{self.shown}' is being written by another labelaudit "
                        f"run{f' (pid {pid})' if pid else ''}; wait for it to finish or give "
                        "another folder"
                    ) from None
                except BaseException:
                    os.close(fd)
                    raise
                # The holder before us may have removed the lock file after we opened it:
                # the lock counts only if our descriptor is still the file at that path.
                st = os.fstat(fd)
                if _identity(self.path) == [st.st_dev, st.st_ino]:
                    break
                os.close(fd)
            self.fd = fd
            journal = _journal_of(os.pread(fd, 1 << 16, 0))
            self.write_journal({**journal, "pid": os.getpid()})  # name the holder at once
            _recover(self.target, journal)
            self.write_journal({"pid": os.getpid()})
        except OSError as exc:
            if self.fd >= 0:
                self.release(published=False)
            else:
                self._remove_created()
            where = exc.filename if getattr(exc, "filename", None) else self.path
            raise OutputError(f"cannot lock output folder '{self.shown}': "
                              f"{exc.strerror or exc} ('{where}')") from exc
        except BaseException:
            if self.fd >= 0:
                self.release(published=False)
            else:
                self._remove_created()
            raise

    def write_journal(self, journal: dict[str, Any]) -> None:
        """Record what the run is about to do, so the next run can finish or undo it."""
        _step("write journal")
        data = json.dumps(journal).encode()
        self.pending = "run_id" in journal
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)
        os.fsync(self.fd)

    def release(self, *, published: bool) -> None:
        if not self.pending:  # a journal to act on stays for the next run
            with contextlib.suppress(OSError):
                os.unlink(self.path)  # while still locked: no other run can hold this file
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1
        if not published:
            self._remove_created()

    def _remove_created(self) -> None:
        for p in self.created:  # deepest first: only folders this run created, if still empty
            with contextlib.suppress(OSError):
                p.rmdir()
        self.created = []


def _journal_of(data: bytes) -> dict[str, Any]:
    try:
        journal = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return {}  # empty, or cut by a kill while it was written (before any commit)
    return journal if isinstance(journal, dict) else {}


def _recover(target: Path, journal: Mapping[str, Any]) -> None:
    """Finish or undo what a killed run left beside ``target`` (called under the lock).

    A run whose new folder already is ``target`` had committed: its staged files beside
    the set (a JUnit report) are renamed into place. Any other run is undone: if it was
    killed between the two renames of the fallback swap, the previous set goes back to
    ``target``; its run folder and staged files are removed.
    """
    run_id = journal.get("run_id")
    committed = run_id is not None and _identity(target) == list(run_id)
    leftovers = _leftovers(target)
    if _identity(target) is None:
        olds = [p for p in leftovers if f".labelaudit-{_OLD}-" in p.name]
        if len(olds) == 1:
            _step("recover previous")
            os.rename(olds[0], target)
            leftovers.remove(olds[0])
    for final, staged in journal.get("extra") or []:
        if os.path.lexists(staged):
            if committed:
                _step("recover extra")
                os.replace(staged, final)
            else:
                _remove(Path(staged))
    for path in leftovers:
        _remove(path)
    _fsync_directory(target.parent)


@contextlib.contextmanager
def output_lock(out: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock on output folder ``out`` (a second run gets :class:`OutputError`).

    The lock is a ``flock`` on the hidden file ``.NAME.labelaudit-lock`` beside
    ``out``, released by the system whenever the process ends, even by
    ``kill -9``. Taking it first finishes or removes whatever a killed run left
    beside ``out`` (see :func:`publish`). It is re-entrant within a process, so
    a command holds it for its whole run and :func:`publish` inside reuses it.
    Missing parent folders are created, and removed again if nothing was
    published. Where the system has no ``fcntl`` (Windows) nothing is locked.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder.

    Raises
    ------
    OutputError
        Another process holds the lock, or the lock file cannot be created.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "audit"
    >>> with output_lock(out):
    ...     publish(out, {"note.txt": "hello"})
    >>> sorted(p.name for p in out.iterdir())
    ['note.txt']
    """
    target = _resolve(out)
    lock = _HELD.get(target)
    if lock is None:
        lock = _OutputLock(out)
        lock.acquire()
        _HELD[target] = lock
    lock.depth += 1
    published = len(PUBLISHED)
    try:
        yield
    finally:
        lock.depth -= 1
        if lock.depth == 0:
            del _HELD[target]
            lock.release(published=any(p == target for p in PUBLISHED[published:]))


def _output_error(exc: BaseException, path: str, what: str = "cannot write") -> OutputError:
    """One line naming ``path`` for a failed file-system operation."""
    reason = getattr(exc, "strerror", None)
    if not reason:  # polars reports I/O failures as "... (os error 28)"
        found = re.search(r"\(os error (\d+)\)", str(exc))
        reason = os.strerror(int(found.group(1))) if found else " ".join(str(exc).split())
    return OutputError(f"{what} '{path}': {reason}")


def _is_os_failure(exc: BaseException) -> bool:
    return isinstance(exc, OSError) or bool(re.search(r"\(os error \d+\)", str(exc)))


def _own_names(target: Path, new_names: Sequence[str]) -> set[str]:
    """Entries of ``target`` labelaudit may replace: the new set's and the previous set's."""
    names = {n.split("/")[0] for n in new_names} | {"summary.json"}
    try:
        outputs = json.loads((target / "summary.json").read_text(encoding="utf-8"))["outputs"]
        names.update(n for n in outputs.get("files") or [] if isinstance(n, str))
        junit = outputs.get("junit")
        if isinstance(junit, str):
            inside = _resolve(junit).relative_to(target)
            names.add(inside.parts[0])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
        pass
    return names


def _check_target(shown: str, target: Path, new_names: Sequence[str]) -> set[str]:
    """Refuse a target that is not a folder or holds what labelaudit did not write.

    Returns the entries of ``target`` that belong to the previous set (the only ones
    deleted with it).
    """
    if not target.exists():
        return set()
    if not target.is_dir():
        raise OutputError(f"output folder '{shown}' exists and is not a folder")
    own = _own_names(target, new_names)
    nested = {n.split("/")[0] for n in new_names if "/" in n}
    owned, foreign, folders = set(), [], []
    for entry in sorted(os.listdir(target)):
        path = target / entry
        if _LEGACY_TEMP.fullmatch(entry):
            owned.add(entry)
        elif entry not in own:
            foreign.append(entry)
        elif path.is_dir() and not path.is_symlink() and entry not in nested:
            folders.append(entry)  # labelaudit writes a file by that name, never a folder
        else:
            owned.add(entry)
    if folders:
        raise OutputError(
            f"output folder '{shown}' holds a folder '{folders[0]}' where labelaudit writes a "
            "file; move it, or give a new or empty folder"
        )
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OutputError(
            f"output folder '{shown}' holds '{foreign[0]}'{more}, which is not part of a "
            "labelaudit output set there (its summary.json does not list it); labelaudit "
            "replaces the whole folder, so give a new or empty folder"
        )
    return owned


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back during the commit; it takes effect right after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread ever receives KeyboardInterrupt
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


def publish(
    out: str | os.PathLike[str],
    files: Mapping[str, Any] | Sequence[tuple[str, Callable[[Path], None]]],
    *,
    extra: Sequence[tuple[str | os.PathLike[str], str]] = (),
) -> None:
    """Replace the output folder ``out`` by a new set of files, all at once.

    Readers of ``out`` see either every file of the previous set or every
    file of the new one, whatever happens: a failure while writing (the
    message names the file), a full disk, Ctrl-C, ``kill -9`` or a concurrent
    run (the lock of :func:`output_lock`). Files of the previous set that the
    new set does not have (say ``issues.csv`` of a run with ``--csv``) go with it.

    How: the whole set is written (and fsynced) into a fresh folder beside
    ``out``, ``.NAME.labelaudit-run-TOKEN``, which then takes the place of
    ``out`` in one step: ``renameat2(RENAME_EXCHANGE)`` on Linux. Where the
    system has no exchange, two renames are used (``out`` to
    ``.NAME.labelaudit-old-TOKEN``, the new folder to ``out``): for that
    instant ``out`` does not exist, and a run killed there is finished by the
    next one. The previous set is then deleted. A killed run's leftovers are
    finished or removed by the next run on the same folder.

    ``out`` must be missing, empty, or hold a labelaudit output set: entries
    that are neither in the new set nor listed by the folder's
    ``summary.json`` make it refuse (:class:`OutputError`), so files
    labelaudit did not write are never deleted.

    A reader that opens the files one by one by path while a new set is
    swapped in can still get one file of each; to read one set, open the
    folder once and read its files relative to that descriptor (a file can
    then vanish, as the previous set is deleted, but not come from another run).

    Parameters
    ----------
    out : str or os.PathLike
        Output folder (a symlink to a folder publishes where it points).
    files : Mapping or sequence of (name, writer)
        File name -> content (written by :func:`write_output`), or pairs of a
        file name and a function writing that file at the path it is given.
    extra : sequence of (path, text), default ()
        Text files beside the set (for instance a JUnit report). One inside
        ``out`` joins the set. One outside is written beside its target before
        the swap and renamed over it right after the swap, Ctrl-C held back in
        between: it never changes unless the set did. Only a kill in the
        instant between the two renames leaves the previous file beside the
        new set, and the next run on ``out`` completes the rename.

    Raises
    ------
    OutputError
        ``out`` is busy, not a folder or holds foreign files, or a file cannot
        be written (the message names it); the previous outputs are unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "audit"
    >>> first = {"outputs": {"files": ["summary.json", "notes.txt"]}}
    >>> publish(out, {"notes.txt": "run 1", "summary.json": first})
    >>> publish(out, {"summary.json": {"outputs": {"files": ["summary.json"]}}})
    >>> sorted(p.name for p in out.iterdir())  # notes.txt went with the previous set
    ['summary.json']
    >>> (out / "mine.txt").write_text("not labelaudit's")
    16
    >>> publish(out, {"summary.json": {}})
    Traceback (most recent call last):
    ...
    labelaudit.exceptions.OutputError: output folder '...' holds 'mine.txt', which is ...
    """
    shown = os.fspath(out)
    target = _resolve(out)
    items = list(files.items()) if isinstance(files, Mapping) else list(files)
    inside, outside = [], []
    for path, text in extra:
        final = _resolve(path)
        try:
            inside.append((final.relative_to(target).as_posix(), text))
        except ValueError:
            outside.append((Path(path), final, text))
    writers: list[tuple[str, Callable[[Path], None]]] = [
        (name, (lambda p, c=content: write_output(p, c)) if isinstance(files, Mapping) else content)
        for name, content in items
    ] + [(name, lambda p, t=text: write_text(p, t)) for name, text in inside]
    names = [name for name, _ in writers]
    if len(set(names)) != len(names):
        raise OutputError(f"output folder '{shown}': two outputs are named "
                          f"'{next(n for n in names if names.count(n) > 1)}'")
    with output_lock(out):
        _publish_locked(_HELD[target], shown, target, writers, outside)


def _publish_locked(lock: _OutputLock, shown: str, target: Path,
                    writers: list[tuple[str, Callable[[Path], None]]], outside: list) -> None:
    names = [name for name, _ in writers]
    _check_target(shown, target, names)
    token = secrets.token_hex(8)
    run = _sibling(target, _RUN, token)
    staged = [(final, final.with_name(f".{final.name}.labelaudit-{token}.tmp"), text, given)
              for given, final, text in outside]
    committed = False
    current = shown
    try:
        _step("create run folder")
        os.mkdir(run, 0o777)
        journal = {"pid": os.getpid(), "run": run.name, "run_id": _identity(run),
                   "extra": [[os.fspath(f), os.fspath(t)] for f, t, _, _ in staged]}
        lock.write_journal(journal)
        for name, write in writers:
            current = os.path.join(shown, name)
            path = run / name
            if "/" in name:
                path.parent.mkdir(parents=True, exist_ok=True)
            write(path)
        for final, tmp, text, given in staged:
            current = os.fspath(given)
            _step("create parent")
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.is_dir():
                raise OutputError(f"cannot write '{given}': it is a folder")
            _write_staged(tmp, text)
        current = shown
        with contextlib.suppress(OSError):
            os.chmod(run, stat.S_IMODE(os.stat(target).st_mode))  # keep the folder's mode
        _fsync_directory(run)
        own = _check_target(shown, target, names)  # again: files may have appeared meanwhile
        with _sigint_deferred():
            previous = _swap(run, target, token)
            committed = True
            PUBLISHED.append(target)
            _replace_staged(shown, staged)
    except BaseException as exc:
        if not committed:
            _remove(run)
            for _, tmp, _, _ in staged:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            with contextlib.suppress(OSError):
                lock.write_journal({"pid": os.getpid()})  # nothing left to finish
        if (not committed and isinstance(exc, Exception) and not isinstance(exc, OutputError)
                and _is_os_failure(exc)):
            raise _output_error(exc, current) from exc
        raise
    # Published. What is left is tidying up; a failure there leaves leftovers the next
    # run removes, never a wrong set.
    with contextlib.suppress(OSError):
        lock.write_journal({"pid": os.getpid()})
        if previous is not None:
            _discard_previous(previous, own, target)


def _replace_staged(shown: str, staged: list) -> None:
    """Rename the staged files beside the set (JUnit) over their targets, just after the swap."""
    for final, tmp, _, given in staged:
        try:
            _step(f"rename {final.name}")
            os.replace(tmp, final)
            _fsync_directory(final.parent)
        except OSError as exc:  # the set is published; the next run completes this rename
            raise OutputError(
                f"published '{shown}', but cannot replace '{given}': {exc.strerror or exc}; "
                "the next labelaudit run on this folder replaces it"
            ) from exc


def _write_staged(tmp: Path, text: str) -> None:
    _step(f"create {tmp.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        _step(f"fsync {tmp.name}")
        os.fsync(fh.fileno())


def _swap(run: Path, target: Path, token: str) -> Path | None:
    """Put ``run`` in the place of ``target``; returns where the previous set now is."""
    _step("swap")
    if _identity(target) is None:
        os.rename(run, target)
        _fsync_directory(target.parent)
        return None
    if _exchange(run, target):
        _fsync_directory(target.parent)
        return run
    old = _sibling(target, _OLD, token)
    os.rename(target, old)
    _step("swap second rename")
    os.rename(run, target)
    _fsync_directory(target.parent)
    return old


def _discard_previous(previous: Path, own: set[str], target: Path) -> None:
    """Delete the previous set; anything foreign that appeared in it is kept and named."""
    _step("remove previous")
    kept = []
    for entry in os.listdir(previous):
        if entry in own:
            _remove(previous / entry)
        else:
            kept.append(entry)
    if not kept:
        with contextlib.suppress(OSError):
            os.rmdir(previous)
        return
    keep = target.with_name(f"{target.name}.previous-{previous.name.rsplit('-', 1)[-1]}")
    os.rename(previous, keep)
    warnings.warn(f"'{keep}' keeps {', '.join(repr(k) for k in sorted(kept))}, written into the "
                  "output folder during the run", LabelAuditWarning, stacklevel=3)
