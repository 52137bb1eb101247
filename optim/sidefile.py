"""The small JSON tables kept beside the results (canaries, manifests, measured throughput),
read so that a damaged, conflicted or misshapen file is never mistaken for an empty one.

Results are shared through git, so a table two branches both extended comes back from a merge
with conflict markers. That is a normal event, not damage: :func:`read_table` reads both
sides, checks each has the table's shape and merges them — entries only one side has are
kept, entries both have must agree (lists can be declared to merge as a union, as a
manifest's keys do) — so nothing another machine recorded is dropped. The next write of the
table stores the merge. Anything else that is not the table's shape is an error naming the
file and how to repair it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .atomic import write_json_atomic

Check = Callable[[Any], str | None]  # the shape's complaint about a value, or None when it fits

_MARKER = re.compile(r"^(<{7}|\|{7}|={7}|>{7})(?: .*)?$")
_reported: set[Path] = set()


class DamagedFile(ValueError):
    """A side file that cannot be read as its table; the message names the file and the fix."""


def sides(text: str) -> tuple[str, str] | None:
    """The two versions of a text with git conflict markers (ours, theirs; a diff3 base section
    is dropped), or None when it has no conflict."""
    ours, theirs, state, conflicted = [], [], "both", False
    for line in text.splitlines(keepends=True):
        marker = _MARKER.match(line.rstrip("\r\n"))
        if marker:
            conflicted = True
            state = {"<<<<<<<": "ours", "|||||||": "base", "=======": "theirs", ">>>>>>>": "both"}[marker.group(1)]
            continue
        if state in ("both", "ours"):
            ours.append(line)
        if state in ("both", "theirs"):
            theirs.append(line)
    return ("".join(ours), "".join(theirs)) if conflicted else None


def merge(ours: Any, theirs: Any, *, union_lists: bool = False, keep_ours: bool = False, where: str = "") -> Any:
    """Both sides' entries: dicts merge key by key; equal values are kept; lists merge as a
    sorted union when ``union_lists``; any other disagreement keeps our side when
    ``keep_ours`` (two measurements of one thing, say) and raises ``ValueError`` otherwise."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        merged = dict(ours)
        for key, value in theirs.items():
            merged[key] = merge(ours[key], value, union_lists=union_lists, keep_ours=keep_ours,
                                where=f"{where}/{key}") if key in ours else value
        return merged
    if union_lists and isinstance(ours, list) and isinstance(theirs, list):
        return sorted(set(ours) | set(theirs))
    if _same(ours, theirs) or keep_ours:
        return ours
    raise ValueError(f"the two sides disagree at {where or 'the top level'}")


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN equals NaN here


def read_table(path: str | Path, what: str, check: Check, fix: str, *, union_lists: bool = False,
               keep_ours: bool = False) -> Any:
    """The table stored at ``path`` (None when there is no file), merged if it holds a git
    conflict (see :func:`merge`); :class:`DamagedFile` naming ``path``, ``what`` it is and the
    ``fix`` otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise DamagedFile(f"{what} {path} cannot be read ({error}); {fix}") from None
    halves = sides(text)
    try:
        if halves is None:
            return _parsed(text, check)
        ours, theirs = (_parsed(half, check) for half in halves)
        merged = merge(ours, theirs, union_lists=union_lists, keep_ours=keep_ours)
    except ValueError as error:
        problem = f"has git conflict markers and {error}" if halves else f"is not a {what} ({error})"
        raise DamagedFile(f"{what} {path} {problem}; {fix}") from None
    if path not in _reported:
        _reported.add(path)
        print(f"note: {what} {path} has git conflict markers; both sides are used, and the next update "
              "of the file stores them merged", file=sys.stderr)
    return merged


def _parsed(text: str, check: Check) -> Any:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ValueError(f"invalid JSON: {error}") from None
    problem = check(value)
    if problem:
        raise ValueError(problem)
    return value


LOCK_NAME = ".folder.lock"


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` across processes (``filelock``, on every platform:
    one lock file per folder, ``.folder.lock``, ignored by git), so read-modify-write updates of
    its tables take turns and none is lost. Inside it, temporary files of writers killed
    mid-write are removed (every writer holds the lock, so none is live), and the per-table lock
    files of older versions."""
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder / LOCK_NAME):
        for stray in [*folder.glob(".*.tmp"), *folder.glob(".*.json.lock")]:
            stray.unlink(missing_ok=True)
        yield


def update_table(path: str | Path, what: str, check: Check, fix: str, change: Callable[[dict], Any],
                 *, union_lists: bool = False, keep_ours: bool = False) -> dict:
    """Read the table at ``path`` (see :func:`read_table`; missing: empty), ``change`` it in
    place and write it back atomically, all under the folder's lock; return it."""
    path = Path(path)
    with locked(path.parent):
        table = read_table(path, what, check, fix, union_lists=union_lists, keep_ours=keep_ours) or {}
        change(table)
        write_json_atomic(path, table, sort_keys=True)
    return table


# --- shapes -----------------------------------------------------------------------------------
def mapping_of(check_value: Check, what: str) -> Check:
    """A JSON object whose every value passes ``check_value`` (described as ``what``)."""
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"expected an object of {what}, found {type(value).__name__}"
        for key, item in value.items():
            problem = check_value(item)
            if problem:
                return f"entry {key!r}: {problem}"
        return None
    return check


def numbers(value: Any) -> str | None:
    """A list of numbers (null for a value that was not a number)."""
    if not isinstance(value, list) or not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                              for v in value):
        return "expected a list of numbers"
    return None


def number_record(value: Any) -> str | None:
    """An object of named numbers."""
    if not isinstance(value, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in value.values()):
        return "expected an object of numbers"
    return None
