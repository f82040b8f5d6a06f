"""The one way mlopsc opens a file it did not create: inside the repository, regular, bounded.

A pull request is untrusted input and CI runs mlopsc on it with secrets in its environment, so
every path that comes from data (a spec, evidence, the inventory, the history) or from the tree
(a committed symlink, a FIFO, a directory where a file should be) goes through here:

- `safe_relative(text)`: a relative POSIX path with no `..`, no absolute start, no control
  characters; anything else is refused before it touches the disk.
- `open_inside(root, rel)`: walks `rel` one component at a time from `root` with O_NOFOLLOW, so
  no symlink anywhere below the root is followed (the root itself is the user's choice, `-C`);
  the final file is opened O_NONBLOCK (a FIFO never blocks) and must be a regular file.
- `read_inside(root, rel, limit)`: the bytes, refused past `limit` (no /dev/zero, no huge file).

Errors are `UnsafeFile` with a message that names the path and the reason, never the content.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

# A spec, an evidence record or mlopsc.yaml is a few KB; the inventory and history of a large
# repository a few MB. Past these, something is wrong (or hostile), not big.
MAX_SPEC_BYTES = 4 * 1024 * 1024
MAX_DATA_BYTES = 64 * 1024 * 1024

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class UnsafeFile(Exception):
    """A path mlopsc refuses to read (or that cannot be read); `reason` is safe to print."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# What a file path may not hold: control characters (C0 and DEL), lone surrogates (not encodable
# as a file name) and backslashes (a Windows separator that means nothing here).
_REFUSED_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff\\]")


def safe_relative(text: str) -> str:
    """`text` as a normalised relative POSIX path inside the root, or UnsafeFile.

    Normalised as PurePosixPath would (empty and `.` components dropped), with str methods: this
    runs for every path of the inventory and the history, tens of thousands per compile."""
    if not isinstance(text, str) or not text:
        raise UnsafeFile(_shown(text), "is not a file path")
    if _REFUSED_PATH_CHARS.search(text):
        raise UnsafeFile(_shown(text), "is not a valid file path (control characters or backslashes)")
    if text.startswith("/"):
        raise UnsafeFile(_shown(text), "is an absolute path; paths are relative to the repository root")
    parts = [p for p in text.split("/") if p and p != "."]
    if not parts or ".." in parts:
        raise UnsafeFile(_shown(text), "leaves the repository (`..`)")
    return "/".join(parts)


def _shown(text: object) -> str:
    """A refused path as it can be printed: escaped, so no control character reaches a terminal."""
    if isinstance(text, str):
        return text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return repr(text)


def _open_dir_chain(root: Path, parts: list[str], shown: str) -> int:
    """An fd of root/parts[0]/…/parts[-1], refusing any symlink or non-directory on the way."""
    try:  # the root is the caller's choice (-C, or an --out outside it): followed if a symlink
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UnsafeFile(shown, "does not exist") from None
    except OSError as exc:
        raise UnsafeFile(shown, f"cannot be read ({exc.strerror or exc})") from None
    try:
        for part in parts:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise UnsafeFile(shown, "does not exist") from None
            except NotADirectoryError:
                raise UnsafeFile(shown, f"`{part}` on its way is a symlink or not a directory") from None
            except OSError as exc:
                if exc.errno == getattr(os, "ELOOP", 40):
                    raise UnsafeFile(shown, f"`{part}` on its way is a symlink") from None
                raise UnsafeFile(shown, f"cannot be read ({exc.strerror or exc})") from None
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_inside(root: Path, rel: str) -> int:
    """A read-only fd of the regular file root/rel, never through a symlink; UnsafeFile otherwise."""
    rel = safe_relative(rel)
    *dirs, name = rel.split("/")
    dir_fd = _open_dir_chain(root, dirs, rel)
    try:
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise UnsafeFile(rel, "does not exist") from None
        except IsADirectoryError:
            raise UnsafeFile(rel, "is a directory, not a file") from None
        except OSError as exc:
            if exc.errno == getattr(os, "ELOOP", 40):
                raise UnsafeFile(rel, "is a symlink; mlopsc reads only regular files inside the repository") from None
            if exc.errno == getattr(os, "ENXIO", 6):  # a socket or a FIFO with no writer on some kernels
                raise UnsafeFile(rel, "is not a regular file") from None
            raise UnsafeFile(rel, f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(dir_fd)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a device, FIFO or socket)"
        raise UnsafeFile(rel, f"is {kind}; mlopsc reads only regular files")
    return fd


def read_inside(root: Path, rel: str, limit: int = MAX_DATA_BYTES) -> bytes:
    """The bytes of the regular file root/rel (see open_inside), at most `limit` of them."""
    fd = open_inside(root, rel)
    try:
        os.set_blocking(fd, True)
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise UnsafeFile(safe_relative(rel), f"is larger than {limit // (1024 * 1024)} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def lstat_inside(root: Path, rel: str) -> os.stat_result | None:
    """lstat of root/rel without following a symlink on the way (None when absent or unreachable)."""
    rel = safe_relative(rel)
    *dirs, name = rel.split("/")
    try:
        dir_fd = _open_dir_chain(root, dirs, rel)
    except UnsafeFile:
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(dir_fd)


def walk_inside(root: Path, rel_dir: str) -> tuple[list[str], list[str]]:
    """Every regular file under root/rel_dir (relative to root, sorted), and every entry refused on
    the way (symlinks, FIFOs, devices), neither followed nor opened. UnsafeFile when rel_dir itself
    is missing, a symlink or not a directory."""
    rel_dir = safe_relative(rel_dir)
    top = _open_dir_chain(root, rel_dir.split("/"), rel_dir)
    files: list[str] = []
    refused: list[str] = []
    try:
        for dirpath, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            base = rel_dir if dirpath == "." else f"{rel_dir}/{dirpath[2:]}"
            for name in dirnames + filenames:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    files.append(f"{base}/{name}")
                elif not stat.S_ISDIR(st.st_mode):
                    refused.append(f"{base}/{name}")
    finally:
        os.close(top)
    return sorted(files), sorted(refused)
