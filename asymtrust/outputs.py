"""The one output policy: every file and folder asymtrust writes goes through here.

Rules (issue 12), the same for every command and API function that writes:

* **Nothing that asymtrust did not write is ever deleted or overwritten**, whatever the
  flags. ``force`` replaces an existing output only when asymtrust can prove it wrote
  it and nobody changed it since:

  - a report folder carries :data:`MANIFEST` (every file asymtrust wrote there, with
    its SHA-256). ``force`` removes exactly those files, and only if the folder holds
    nothing else and none of them was edited; otherwise the folder is refused, named,
    and left alone. An empty folder holds nothing to lose and may be replaced.
  - a single file (simulated data, a figure, a codebook) is recorded, when written, in
    the user's output register (:func:`register_path`: path, device, inode, size and
    SHA-256). ``force`` replaces it only when the file on disk still matches.
* **Never through a link or onto something that is not a regular file**: a symbolic
  link, a device (``/dev/stdout``), a pipe or a socket is refused by name; so are the
  inputs of the command (data, model, codebook), the working folder, ``/`` and the home
  folder.
* **Whole or not at all.** Content goes to a temporary sibling
  (``.NAME.XXXX.tmp``), then into place with a rename that never replaces
  (``renameat2(RENAME_NOREPLACE)``, else ``link``): of two concurrent writers exactly
  one wins; the other gets :class:`~asymtrust.exceptions.OutputError` and exit 2. A
  forced replacement swaps the new folder in atomically (``RENAME_EXCHANGE``) and
  re-checks the old one under a lock before removing its files.
* **Temporary files never outlive the process**: they are registered while they
  exist and removed on any exception, including the :class:`Terminated` that the CLI
  raises on SIGTERM and SIGHUP (:func:`install_signal_handlers`).
* **Refuse early.** :func:`plan_file` and :func:`plan_folder` do every check before the
  computation; :meth:`FileTarget.write` and :meth:`FolderTarget.write` check again
  before committing (the world may have changed meanwhile).
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import OutputError

__all__ = [
    "MANIFEST",
    "FileTarget",
    "FolderTarget",
    "Terminated",
    "display",
    "sha256_file",
    "install_signal_handlers",
    "plan_file",
    "plan_folder",
    "register_path",
    "state_dir",
    "write_file",
]

#: the file in every report folder that lists what asymtrust wrote there
MANIFEST = "asymtrust-manifest.json"
_MANIFEST_FORMAT = "asymtrust-output-manifest/1"

#: temporary paths of this process that exist right now (removed on any exit path)
_LIVE: set[str] = set()


# ====================================================================================
# small helpers
# ====================================================================================
def display(path: str | os.PathLike) -> str:
    """A path as text that can always be printed or written as UTF-8 (undecodable
    bytes of a file name become U+FFFD)."""
    s = os.fspath(path)
    if isinstance(s, bytes):
        return s.decode("utf-8", "replace")
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _abs(path: str | os.PathLike) -> Path:
    """Absolute, user-expanded, *not* link-resolved."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"output {display(path)} cannot be inspected: {exc.strerror or exc}") from exc


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _protected(path: Path) -> str | None:
    """Why ``path`` may never be an output (folder), or None."""
    if path == Path(path.anchor):
        return "the root folder"
    home = os.path.expanduser("~")
    if home and home != "~" and _same(path, Path(home)):
        return "your home folder"
    with contextlib.suppress(OSError):
        if _same(path, Path.cwd()):
            return "the current working folder"
        if Path.cwd().resolve().is_relative_to(path.resolve()):
            return "a folder that holds the current working folder"
    return None


def _check_inputs(dest: Path, inputs: Iterable[str | os.PathLike | None], *, folder: bool) -> None:
    for inp in inputs:
        if inp is None:
            continue
        ip = _abs(inp)
        if not ip.exists():
            continue
        if _same(ip, dest):
            raise OutputError(f"output {display(dest)} is an input of this command ({display(inp)}); "
                              "choose another output")
        if folder and dest.exists():
            with contextlib.suppress(OSError):
                if ip.resolve().is_relative_to(dest.resolve()):
                    raise OutputError(f"output folder {display(dest)} contains an input of this command "
                                      f"({display(inp)}); choose another --out")


def _probe_writable(folder: Path) -> None:
    if not folder.is_dir():
        raise OutputError(f"output folder {display(folder)} does not exist; create it first")
    try:
        fd, probe = tempfile.mkstemp(prefix=".asymtrust-probe-", dir=folder)
    except OSError as exc:
        raise OutputError(f"output folder {display(folder)} is not writable: {exc.strerror or exc}") from exc
    os.close(fd)
    os.unlink(probe)


# ----------------------------------------------------------------- renames that never replace
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_libc = None


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2``; False when the system has none (then the caller falls back)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            _libc.renameat2  # noqa: B018 - AttributeError if glibc < 2.28
        except (OSError, AttributeError):
            _libc = False
    if _libc is False:
        return False
    rc = _libc.renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(dst))


def _move_noreplace(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; FileExistsError if ``dst`` exists (never replaced)."""
    try:
        if _renameat2(src, dst, _RENAME_NOREPLACE):
            return
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(errno.EEXIST, "exists", os.fspath(dst)) from None
        raise
    if src.is_dir():  # no renameat2: a lock-free check-then-rename is the best there is
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "exists", os.fspath(dst))
        os.mkdir(dst)  # claims the name (fails if taken); rename then replaces our empty folder
        os.rename(src, dst)
        return
    os.link(src, dst)  # FileExistsError if taken
    os.unlink(src)


def _place_new(tmp: Path, dest: Path, what: str) -> None:
    """Move a finished temporary to a destination that must not exist; the one that
    loses a race gets an :class:`OutputError` and the winner's output is left alone."""
    try:
        _move_noreplace(tmp, dest)
    except FileExistsError:
        raise OutputError(f"{what} appeared while asymtrust was working (another run?); it was left alone and "
                          "nothing was written") from None
    except OSError as exc:
        raise OutputError(f"{what} could not be written: {exc.strerror or exc}") from exc
    _LIVE.discard(os.fspath(tmp))


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on a folder (flock on its descriptor), for the re-check before
    a forced replacement; two asymtrust processes never interleave there."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# ----------------------------------------------------------------- temporary paths
@contextlib.contextmanager
def _temporary(folder: Path, name: str, *, directory: bool) -> Iterator[Path]:
    """A hidden temporary sibling, removed on every way out unless it was moved."""
    try:
        tmp = (tempfile.mkdtemp if directory else _mkstemp)(prefix=f".{name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"output folder {display(folder)} is not writable: {exc.strerror or exc}") from exc
    _LIVE.add(tmp)
    try:
        delay = os.environ.get("ASYMTRUST_TEST_WRITE_DELAY")  # tests: hold the temporary open (signals, races)
        if delay:
            time.sleep(float(delay))
        yield Path(tmp)
    finally:
        if tmp in _LIVE:  # not moved into place (nor holding an old report after a swap)
            _remove_temporary(tmp)


def _mkstemp(prefix: str, suffix: str, dir: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)
    os.close(fd)
    return tmp


def _remove_temporary(tmp: str) -> None:
    with contextlib.suppress(OSError):
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.unlink(tmp)
    _LIVE.discard(tmp)


def cleanup_temporaries() -> None:
    """Remove every temporary path this process still holds (the CLI's last step)."""
    for tmp in list(_LIVE):
        _remove_temporary(tmp)


# ----------------------------------------------------------------- signals
class Terminated(BaseException):
    """Raised in the main thread on SIGTERM or SIGHUP, so that every ``finally`` and
    temporary-file cleanup runs as it does for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    # a second signal while cleaning up must not interrupt the cleanup
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise :class:`Terminated` (the CLI calls this once)."""
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                signal.signal(sig, _on_signal)


# ====================================================================================
# the register of single files asymtrust wrote
# ====================================================================================
def state_dir() -> Path:
    """Where asymtrust keeps its output register: ``$ASYMTRUST_STATE_DIR``, else
    ``$XDG_STATE_HOME/asymtrust``, else ``~/.local/state/asymtrust``."""
    env = os.environ.get("ASYMTRUST_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path(os.path.expanduser("~")) / ".local" / "state"
    return base / "asymtrust"


_REGISTER = "outputs.json"
_REGISTER_MAX = 5000


def _identity(path: Path, *, digest: bool = True) -> dict:
    st = os.stat(path)
    out = {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if digest:
        out["sha256"] = sha256_file(path)
    return out


def _read_register() -> dict:
    try:
        doc = json.loads((state_dir() / _REGISTER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def register_path(path: str | os.PathLike) -> bool:
    """Record that asymtrust wrote ``path`` (as it is now). False when the register
    cannot be written (then a later ``force`` cannot replace the file: safe)."""
    p = Path(os.path.realpath(path))
    try:
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with _lock(folder):
            reg = _read_register()
            reg[os.fsdecode(p)] = {**_identity(p), "written": time.time()}
            if len(reg) > _REGISTER_MAX:  # forget the oldest entries
                keep = sorted(reg.items(), key=lambda kv: kv[1].get("written", 0))[-_REGISTER_MAX:]
                reg = dict(keep)
            fd, tmp = tempfile.mkstemp(prefix=".outputs.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(reg, fh)
            os.replace(tmp, folder / _REGISTER)
        return True
    except OSError:
        return False


def _written_by_us(path: Path) -> bool:
    entry = _read_register().get(os.fsdecode(Path(os.path.realpath(path))))
    if not entry:
        return False
    try:
        now = _identity(path, digest=False)
    except OSError:
        return False
    if any(now[k] != entry.get(k) for k in ("dev", "ino", "size")):
        return False
    return sha256_file(path) == entry.get("sha256")


# ====================================================================================
# single files
# ====================================================================================
@dataclass
class FileTarget:
    """A checked destination for one file; :meth:`write` puts the content there."""

    path: Path
    force: bool
    existing: dict | None = None   # identity of the file ``force`` may replace
    shown: str = ""

    def write(self, content: str | bytes | Callable[[Path], None]) -> Path:
        """Write ``content`` (text as UTF-8, bytes, or a function that writes the
        temporary path it is given) whole, then move it into place.

        Raises
        ------
        OutputError
            The destination changed since it was planned (another process wrote it).
        """
        _recheck_file(self)
        folder = self.path.parent
        with _temporary(folder, self.path.name, directory=False) as tmp:
            if callable(content):
                content(tmp)
            else:
                tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
            if self.existing is None:
                _place_new(tmp, self.path, f"output {self.shown}")
            else:
                with _lock(folder):
                    _recheck_file(self)
                    os.replace(tmp, self.path)
                    _LIVE.discard(os.fspath(tmp))
        register_path(self.path)
        return self.path


def _recheck_file(t: FileTarget) -> None:
    st = _lstat(t.path)
    if t.existing is None:
        if st is not None:
            raise OutputError(f"output {t.shown} appeared while asymtrust was working (another run?); "
                              "it was left alone and nothing was written")
        return
    if st is None or stat.S_ISLNK(st.st_mode) or (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (
            t.existing["dev"], t.existing["ino"], t.existing["size"], t.existing["mtime_ns"]):
        raise OutputError(f"output {t.shown} changed while asymtrust was working (another run?); "
                          "it was left alone and nothing was written")


def plan_file(path: str | os.PathLike, *, force: bool = False, inputs: Iterable[str | os.PathLike | None] = (),
              suffixes: Iterable[str] | None = None, what: str = "output") -> FileTarget:
    """Check a file destination before any work is done.

    Parameters
    ----------
    path : path
        The destination.
    force : bool
        Replace an existing file, if asymtrust wrote it and it is unchanged.
    inputs : paths
        The command's input files; none of them may be the destination.
    suffixes : iterable of str, optional
        Allowed extensions (e.g. ``(".csv", ".tsv")``).
    what : str
        How the destination is named in messages.

    Raises
    ------
    OutputError
        Every refusal, with the path and the reason.
    """
    raw = os.fspath(path)
    if not str(raw).strip():
        raise OutputError(f"an {what} path is required")
    dest = _abs(raw)
    shown = display(raw)
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if dest.suffix.lower() not in allowed:
            raise OutputError(f"{what} {shown}: expected a {' or '.join(allowed)} file, "
                              f"not {dest.suffix or '(no extension)'!r}")
    st = _lstat(dest)
    existing = None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise OutputError(f"{what} {shown} is a symbolic link; asymtrust does not write through links "
                              "(name the real file, or a new one)")
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{what} {shown} is a folder; name a file")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{what} {shown} is not a regular file (a device, pipe or socket); "
                              "asymtrust writes only regular files")
    _check_inputs(dest, inputs, folder=False)
    if st is not None:
        if not force:
            raise OutputError(f"{what} {shown} already exists; use --force to replace a file asymtrust wrote")
        if not _written_by_us(dest):
            raise OutputError(f"{what} {shown} exists and was not written by asymtrust (or was changed since); "
                              "refusing to replace it, even with --force (choose a new name)")
        existing = {"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    _probe_writable(dest.parent)
    return FileTarget(dest, force, existing, shown)


def write_file(path: str | os.PathLike, content: str | bytes | Callable[[Path], None], *, force: bool = False,
               inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Plan and write one file in a single call (for content that is cheap to make)."""
    return plan_file(path, force=force, inputs=inputs).write(content)


# ====================================================================================
# folders (the report)
# ====================================================================================
def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """Relative paths of every non-folder entry and of every sub-folder."""
    files, dirs = [], []
    for root, dnames, fnames in os.walk(folder, followlinks=False):
        r = Path(root)
        for d in dnames:
            p = r / d
            (files if p.is_symlink() else dirs).append(p.relative_to(folder).as_posix())
        for f in fnames:
            files.append((r / f).relative_to(folder).as_posix())
    return sorted(files), sorted(dirs)


def _read_manifest(folder: Path) -> dict | None:
    p = folder / MANIFEST
    try:
        st = os.lstat(p)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != _MANIFEST_FORMAT or not isinstance(doc.get("files"), dict):
        return None
    return doc


def _foreign(folder: Path, shown: str) -> None:
    """Raise unless ``folder`` holds nothing but the unchanged files of its manifest."""
    files, _dirs = _walk(folder)
    if not files:
        return
    doc = _read_manifest(folder)
    if doc is None:
        raise OutputError(f"output folder {shown} holds files asymtrust did not write ({_names(files)}) and no "
                          f"{MANIFEST}; refusing to replace it, even with --force (choose a new folder)")
    listed = doc["files"]
    foreign = [f for f in files if f != MANIFEST and f not in listed]
    if foreign:
        raise OutputError(f"output folder {shown} holds files asymtrust did not write ({_names(foreign)}); "
                          "refusing to replace it, even with --force (move them or choose a new folder)")
    changed = []
    for f in files:
        if f == MANIFEST:
            continue
        p = folder / f
        if p.is_symlink() or not p.is_file() or sha256_file(p) != listed[f].get("sha256"):
            changed.append(f)
    if changed:
        raise OutputError(f"output folder {shown}: {_names(changed)} changed since asymtrust wrote "
                          f"{'it' if len(changed) == 1 else 'them'}; refusing to replace the folder, even with "
                          "--force (keep your edits elsewhere or choose a new folder)")


def _names(items: list[str], k: int = 3) -> str:
    shown = ", ".join(display(x) for x in items[:k])
    return shown + (f" and {len(items) - k} more" if len(items) > k else "")


@dataclass
class FolderTarget:
    """A checked destination folder; :meth:`write` builds it whole and moves it in."""

    path: Path
    force: bool
    existing: tuple[int, int] | None = None
    shown: str = ""
    inputs: tuple = field(default_factory=tuple)

    def write(self, build: Callable[[Path], None]) -> Path:
        """Call ``build(tmp)`` to fill a temporary sibling folder, add the manifest,
        and move the folder into place (replacing the old one only as planned).

        Raises
        ------
        OutputError
            The destination appeared, changed or gained foreign files meanwhile.
        """
        self.recheck()
        parent = self.path.parent
        with _temporary(parent, self.path.name, directory=True) as tmp:
            build(tmp)
            _write_manifest(tmp)
            os.chmod(tmp, 0o777 & ~_umask())
            if self.existing is None:
                _place_new(tmp, self.path, f"output folder {self.shown}")
            else:
                with _lock(parent):
                    self.recheck()
                    self._swap(tmp)
        return self.path

    def recheck(self) -> None:
        st = _lstat(self.path)
        if self.existing is None:
            if st is not None:
                raise OutputError(f"output folder {self.shown} appeared while asymtrust was working (another "
                                  "run?); it was left alone and nothing was written")
            return
        if st is None or not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) != self.existing:
            raise OutputError(f"output folder {self.shown} changed while asymtrust was working (another run?); "
                              "it was left alone and nothing was written")
        _foreign(self.path, self.shown)

    def _swap(self, tmp: Path) -> None:
        """Exchange the new folder with the old, then remove the old one's listed files."""
        if _renameat2(tmp, self.path, _RENAME_EXCHANGE):
            old = tmp  # the old report now sits at the temporary name: never rmtree it
            _LIVE.discard(os.fspath(tmp))
        else:  # pragma: no cover - kernels without renameat2
            old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.old-", dir=self.path.parent))
            os.rmdir(old)
            os.rename(self.path, old)
            _move_noreplace(tmp, self.path)
            _LIVE.discard(os.fspath(tmp))
        try:
            _foreign(old, self.shown)
        except OutputError:
            # someone wrote into the old folder in the instant before the swap: put it back
            if _renameat2(old, self.path, _RENAME_EXCHANGE):
                _LIVE.add(os.fspath(old))  # our new report is back at the temporary name
            raise
        try:
            _remove_listed(old)
        except OSError as exc:
            raise OutputError(f"the new report is in {self.shown}, but files appeared in the old one while it was "
                              f"being replaced; they were kept in {display(old)}") from exc


def _remove_listed(folder: Path) -> None:
    """Remove exactly the files of ``folder``'s manifest, then its (now empty) folders."""
    doc = _read_manifest(folder) or {"files": {}}
    for rel in doc["files"]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(folder / rel)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / MANIFEST)
    _files, dirs = _walk(folder)
    for d in sorted(dirs, key=lambda s: s.count("/"), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(folder / d)  # only if empty
    os.rmdir(folder)  # raises if anything is left: never silently removed


def _write_manifest(folder: Path) -> None:
    files, _ = _walk(folder)
    doc = {
        "format": _MANIFEST_FORMAT,
        "note": "files written by asymtrust; 'asymtrust report --force' removes exactly these and nothing else",
        "files": {f: {"sha256": sha256_file(folder / f), "bytes": (folder / f).stat().st_size}
                  for f in files if f != MANIFEST},
    }
    (folder / MANIFEST).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def plan_folder(path: str | os.PathLike | None, *, force: bool = False,
                inputs: Iterable[str | os.PathLike | None] = ()) -> FolderTarget:
    """Check a destination folder before any work is done.

    Raises
    ------
    OutputError
        No path; a link, a file, ``/``, the home or working folder; a folder that holds
        an input; an existing folder without ``force``; an existing folder holding
        anything asymtrust did not write (or edited since); a missing or unwritable
        parent.
    """
    if path is None or not str(os.fspath(path)).strip():
        raise OutputError("an output folder is required (--out DIR)")
    raw = os.fspath(path)
    dest = _abs(raw)
    shown = display(raw)
    st = _lstat(dest)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise OutputError(f"output folder {shown} is a symbolic link; asymtrust does not write through links")
    why = _protected(dest)
    if why is not None:
        raise OutputError(f"output folder {shown} is {why}; asymtrust never writes a report over it (choose a "
                          "new folder)")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise OutputError(f"output {shown} exists and is not a folder; choose another --out")
    inputs = tuple(inputs)
    _check_inputs(dest, inputs, folder=True)
    existing = None
    if st is not None:
        if not force:
            raise OutputError(f"output folder {shown} already exists; use --force to replace a report asymtrust "
                              "wrote there")
        _foreign(dest, shown)
        existing = (st.st_dev, st.st_ino)
    _probe_writable(dest.parent)
    return FolderTarget(dest, force, existing, shown, inputs)
