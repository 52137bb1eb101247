"""The run cache: one gzip'd JSON file per run, written atomically, checked when read."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

FORMAT = 1


def _digest(result: dict) -> str:
    return hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()


class RunCache:
    """Results under ``root``, one ``<key>.json.gz`` each.

    Writes go to a temporary file in the same folder, are fsync'd and renamed over the
    target, so a reader never sees half a file and two writers of the same key cannot
    interleave. A file that fails to decompress, parse or match its stored sha256 is
    reported, deleted and treated as missing (the run is recomputed).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json.gz"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            envelope = json.loads(gzip.decompress(path.read_bytes()))
            result = envelope["result"]
            if envelope.get("format") != FORMAT or envelope.get("sha256") != _digest(result):
                raise ValueError("checksum mismatch")
            return result
        except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
            print(f"warning: corrupted cache entry {path} ({error}); it will be recomputed",
                  file=sys.stderr)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, result: dict) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        blob = gzip.compress(json.dumps({"format": FORMAT, "sha256": _digest(result),
                                         "result": result}, sort_keys=True).encode(), mtime=0)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path(key)

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()
