"""The run cache: one gzip'd JSON file per run, written atomically, checked when read."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from .atomic import check_writable, write_bytes_atomic

FORMAT = 1
QUARANTINE = ".damaged"  # suffix of entries set aside: <key>.json.gz.damaged-<time>
HOST = socket.gethostname().replace(".", "-")  # in writers' temporary names: whose orphans may be removed


class NewerFormatError(ValueError):
    """A stored entry was written by a newer version of the package."""


def _digest(result: dict) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()


def encode(result: dict) -> bytes:
    """The stored form of ``result``: gzip'd JSON with the format number and a sha256.

    Raises ``TypeError``/``ValueError`` for a result JSON cannot represent exactly (NaN is
    allowed: a diverged run's losses), before anything is written."""
    text = json.dumps({"format": FORMAT, "sha256": _digest(result), "result": result}, sort_keys=True)
    return gzip.compress(text.encode(), mtime=0)


def decode(blob: bytes) -> dict:
    """The result stored in ``blob``; ``ValueError`` (or ``NewerFormatError``) if it is not one."""
    try:
        envelope = json.loads(gzip.decompress(blob))
    except RecursionError:
        raise ValueError("nested too deeply to be a stored result") from None
    except Exception as error:  # zlib.error, EOFError, UnicodeDecodeError, JSONDecodeError, ...
        raise ValueError(f"unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("result"), dict):
        raise ValueError("not a stored result (no result record)")
    stored = envelope.get("format")
    if isinstance(stored, int) and not isinstance(stored, bool) and stored > FORMAT:
        raise NewerFormatError(f"written in format {stored} by a newer version of optim "
                               f"(this one reads format {FORMAT})")
    if stored != FORMAT:
        raise ValueError(f"unknown format {stored!r}")
    result = envelope["result"]
    try:
        digest = _digest(result)
    except RecursionError:
        raise ValueError("nested too deeply to be a stored result") from None
    if envelope.get("sha256") != digest:
        raise ValueError("checksum mismatch")
    return result


class RunCache:
    """Results under ``root``, one ``<key>.json.gz`` each.

    Writes go to a temporary file in the same folder, are fsync'd and renamed over the
    target, so a reader never sees half a file and two writers of the same key cannot
    interleave. An entry that cannot be read back (damaged bytes, not a result, checksum
    mismatch, a newer format) is reported on stderr, set aside as
    ``<key>.json.gz.damaged-<time>`` for inspection and treated as missing, so the run is
    recomputed. Temporary files left by killed writers on this host are removed.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json.gz"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            print(f"warning: cannot read stored result {path} ({error.strerror}); it will be recomputed",
                  file=sys.stderr)
            return None
        try:
            return decode(blob)
        except ValueError as error:
            kept = self.quarantine(key)
            where = f"set aside as {kept.name}" if kept else "could not be set aside"
            print(f"warning: stored result {path.name} is {'damaged: ' if not isinstance(error, NewerFormatError) else ''}"
                  f"{error}; {where}, and the run will be recomputed", file=sys.stderr)
            return None

    def quarantine(self, key: str) -> Path | None:
        """Rename a bad entry out of the way (never delete it); return its new path."""
        target = self.path(key).with_name(f"{key}.json.gz{QUARANTINE}-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(self.path(key), target)
            return target
        except OSError:
            return None

    def put(self, key: str, result: dict) -> Path:
        blob = encode(result)
        write_bytes_atomic(self.path(key), blob, prefix=f".{key}.{HOST}.{os.getpid()}.")
        return self.path(key)

    def check_writable(self) -> None:
        """Fail with one line, before any work, unless entries can be written under ``root``."""
        check_writable(self.root, "the results folder")

    def remove_orphans(self, max_age_s: float = 24 * 3600) -> list[Path]:
        """Delete temporary files of writers that died: those of this host whose process is
        gone, and any older than ``max_age_s``; return what was removed."""
        removed = []
        for tmp in self.root.glob(".*.tmp"):
            parts = tmp.name.split(".")
            host, pid = (parts[2], parts[3]) if len(parts) >= 6 else (None, None)
            try:
                old = time.time() - tmp.stat().st_mtime > max_age_s
            except FileNotFoundError:
                continue
            dead = host == HOST and pid is not None and pid.isdigit() and not _alive(int(pid))
            if dead or old:
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        return removed

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
