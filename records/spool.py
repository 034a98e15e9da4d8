"""The engine's call-record writes on local disk before PostgreSQL (OCX_CDR_SPOOL_DIR), so that no
record is lost when the engine dies while the database is away.

Each write is one JSON line appended to the engine's spool file before CdrWriter.open/answered/update/
close return: from then on it outlives the process. The writer thread fsyncs the file before it sends
a batch to PostgreSQL (one fsync per batch: it costs 4-5 ms here, too long for the event loop that
paces media) and empties the file whenever everything in it is in the database; past ROTATE bytes a
new file is started and the old one goes once its last line is written.

An engine holds an exclusive flock on its files while it lives, so a file nobody holds belongs to an
engine that died: any engine on the host adopts it (`orphans`, at start and every few seconds), puts
its lines in its own spool and queue, then deletes it. Writing is idempotent (INSERT ... ON CONFLICT DO
NOTHING, UPDATEs that set the same values), so lines written twice still give one row with the right
fields. The files' modification time is touched at every heartbeat: it is the dead engine's last sign
of life, where the calls it never closed end (cause engine-lost).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
ROTATE = 8 * 1024 * 1024  # bytes of a spool file before the next one starts
SUFFIX = ".cdrs"


@dataclass(frozen=True)
class Write:
    """One record write: op is open (INSERT), update (answered, conference...), close, or lost."""

    op: str
    call_uuid: str
    values: dict

    def to_line(self) -> bytes:
        return (
            json.dumps({"op": self.op, "call": self.call_uuid, "values": self.values}, default=_encode).encode() + b"\n"
        )

    @classmethod
    def from_line(cls, line: bytes) -> Write:
        data = json.loads(line)
        values = {k: dt.datetime.fromisoformat(v) if k.endswith("_at") and isinstance(v, str) else v
                  for k, v in data["values"].items()}  # fmt: skip
        return cls(str(data["op"]), str(data["call"]), values)


def _encode(value):
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot spool {type(value).__name__}")


@dataclass
class Segment:
    number: int
    path: Path
    fd: int


class Spool:
    """An engine's spool files in `folder`; every method but `orphans` is called under the writer's lock."""

    def __init__(self, folder: str | os.PathLike, owner: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        # The engine id plus a token: a restarted engine may get its predecessor's id (the same pid in a
        # container), and must not take its predecessor's file names before it took over their lines.
        self.name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in owner) + "-" + secrets.token_hex(4)
        self.segments: list[Segment] = []
        self._next = 0
        self._start_segment()

    def _start_segment(self) -> Segment:
        """A new file, locked before it gets the name other engines look for."""
        path = self.folder / f"{self.name}.{self._next}{SUFFIX}"
        temporary = path.with_suffix(".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(temporary, path)
        segment = Segment(self._next, path, fd)
        self._next += 1
        self.segments.append(segment)
        return segment

    def append(self, write: Write) -> int:
        """The write on disk (the kernel has it: a process death cannot lose it); its segment's number."""
        current = self.segments[-1]
        if os.fstat(current.fd).st_size > ROTATE:
            os.fsync(current.fd)
            current = self._start_segment()
        os.write(current.fd, write.to_line())
        return current.number

    def sync(self) -> None:
        """Before a batch goes to the database: the lines on the disk itself (writer thread)."""
        os.fsync(self.segments[-1].fd)

    def written(self, through: int, everything: bool) -> None:
        """Every line up to segment `through` is in the database (all of them when `everything`)."""
        while len(self.segments) > 1 and (everything or self.segments[0].number < through):
            old = self.segments.pop(0)
            old.path.unlink(missing_ok=True)
            os.close(old.fd)
        if everything:
            os.ftruncate(self.segments[-1].fd, 0)

    def touch(self) -> None:
        """A sign of life (heartbeat): where this engine's open calls end if it dies."""
        os.utime(self.segments[-1].fd)

    def close(self) -> None:
        """The engine stops: files with nothing left in them go, the others wait for an adopter."""
        for segment in self.segments:
            if os.fstat(segment.fd).st_size == 0:
                segment.path.unlink(missing_ok=True)
            os.close(segment.fd)
        self.segments = []

    def orphans(self) -> Iterator[tuple[str, list[Write], dt.datetime]]:
        """The spools of engines that died: (their name, their writes in order, their last sign of life).
        An engine's files are held locked while the caller adopts them, and deleted when it moves on."""
        mine = {segment.path for segment in self.segments}
        engines: dict[str, list[tuple[int, Path]]] = {}
        for path in self.folder.glob(f"*{SUFFIX}"):
            name, _, number = path.name.removesuffix(SUFFIX).rpartition(".")
            if path not in mine and number.isdigit():
                engines.setdefault(name, []).append((int(number), path))
        for name, files in engines.items():
            opened: list[tuple[Path, int]] = []
            try:
                for _, path in sorted(files):
                    try:
                        fd = os.open(path, os.O_RDONLY)
                    except FileNotFoundError:
                        continue  # adopted by another engine meanwhile
                    opened.append((path, fd))
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: its engine is alive
                held = [(path, fd) for path, fd in opened if os.fstat(fd).st_nlink]  # not adopted meanwhile
                if not held:
                    continue
                writes, last_seen = [], max(os.fstat(fd).st_mtime for _, fd in held)
                for path, fd in held:
                    with open(fd, "rb", closefd=False) as file:
                        for line in file.read().splitlines():
                            try:
                                writes.append(Write.from_line(line))
                            except (ValueError, KeyError, TypeError):  # a line cut short by the death
                                log.warning("spool %s: unreadable line skipped: %r", path.name, line[:200])
                yield name, writes, dt.datetime.fromtimestamp(last_seen, dt.UTC)
                for path, _ in held:
                    path.unlink(missing_ok=True)
            except BlockingIOError:
                continue
            finally:
                for _, fd in opened:
                    os.close(fd)
