"""Free space where recordings and voicemail live, and what it allows.

`disk_state(path)` is "ok", "warn" (under OCX_DISK_WARN: the operators are mailed) or "full" (under
OCX_DISK_FULL: no new recording or voicemail message starts). Each threshold is a share of the disk
("10%") or an amount of free space ("2G", "500M", a plain number is bytes). The engine asks before
every recording, so the answer is kept for OCX_DISK_CHECK_SECONDS per path: at most one
`shutil.disk_usage` (a statvfs) per path every few seconds, however many calls start. Django-free
apart from reading the settings.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

OK, WARN, FULL = "ok", "warn", "full"
_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_cache: dict[str, tuple[float, Usage]] = {}


@dataclass(frozen=True)
class Usage:
    path: str
    total: int
    free: int
    state: str

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total else 0.0


def threshold_bytes(text: str, total: int) -> int:
    """A threshold as bytes of free space: "10%" of `total`, or "2G", "500M", "4096"."""
    text = str(text).strip().upper().removesuffix("B")
    if text.endswith("%"):
        return int(total * float(text[:-1]) / 100)
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(float(text or 0))


def _existing(path: str | Path) -> Path:
    """`path`, or its nearest existing parent (a directory not made yet is on its parent's disk)."""
    where = Path(path)
    while not where.exists() and where != where.parent:
        where = where.parent
    return where


def device(path: str | Path) -> int:
    """The filesystem holding `path` (os.stat's st_dev): directories with the same one share a disk."""
    return os.stat(_existing(path)).st_dev


def usage(path: str | Path, *, fresh: bool = False) -> Usage:
    """The disk holding `path` (its nearest existing parent) and its state, cached for a few seconds."""
    key = str(path)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and not fresh and hit[0] > now:
        return hit[1]
    disk = shutil.disk_usage(_existing(path))
    state = OK
    if disk.free <= threshold_bytes(settings.OCX_DISK_FULL, disk.total):
        state = FULL
    elif disk.free <= threshold_bytes(settings.OCX_DISK_WARN, disk.total):
        state = WARN
    found = Usage(key, disk.total, disk.free, state)
    _cache[key] = (now + float(settings.OCX_DISK_CHECK_SECONDS), found)
    return found


def disk_state(path: str | Path) -> str:
    """ "ok", "warn" or "full" for the disk holding `path` (cheap: see the module's docstring)."""
    return usage(path).state


def watched() -> list[str]:
    """The directories whose disks the platform watches: recordings, and voicemail when set apart."""
    paths = [settings.OCX_RECORDINGS_DIR]
    voicemail = getattr(settings, "OCX_VOICEMAIL_DIR", "")
    if voicemail and voicemail not in paths:
        paths.append(voicemail)
    return paths


def disk_rows() -> list[dict]:
    """What the status page shows of each watched directory's disk."""
    rows = []
    for path in watched():
        try:
            found = usage(path, fresh=True)
        except OSError as error:
            rows.append({"path": path, "state": "unknown", "detail": str(error)})
            continue
        rows.append({"path": path, "state": found.state, "free": found.free, "total": found.total,
                     "free_percent": round(found.free_percent, 1)})  # fmt: skip
    return rows


def disk_groups(rows: list[dict]) -> list[list[dict]]:
    """The rows of disk_rows() grouped by the disk they are on (recordings and voicemail share one by
    default), in the rows' order; a row whose disk cannot be read is a group of its own."""
    groups: dict[object, list[dict]] = {}
    for row in rows:
        try:
            key = device(row["path"]) if "total" in row else row["path"]
        except OSError:
            key = row["path"]
        groups.setdefault(key, []).append(row)
    return list(groups.values())
