"""Checkpoints of the audit chain's head, kept outside the database.

A MAC proves each event was written by a key holder, but no chain can show that its newest
events were removed, or that someone holding the key rewrote it. A checkpoint records the head
(``seq``, ``hash``) at a moment, signed with the audit key, in a directory the database owner
does not control (another host, write-once storage). Later, ``kejin audit verify --checkpoints``
requires every checkpoint still to be in the chain: a cut or rewritten tail no longer matches.

One JSON file per checkpoint, named by its ``seq``, written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kejin.access.auditkey import Keyring
from kejin.errors import Problem, ValidationError

FORMAT = "kejin-audit-checkpoint-1"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str
    mac: str | None
    file: str = ""

    @property
    def message(self) -> str:
        """What the MAC covers; its form can never be an event hash (64 hex digits)."""
        return json.dumps([FORMAT, self.seq, self.hash, self.at], separators=(",", ":"))

    def signature_problem(self, keys: Keyring) -> Problem | None:
        """Why this checkpoint cannot be trusted under ``keys``; ``None`` if it can (or unkeyed)."""
        if not keys.keyed:
            return None
        where = {"file": self.file, "row": self.seq, "field": "mac", "value": self.mac}
        if self.mac is None:
            return Problem(
                "检查点未签名（可能被替换）",
                "checkpoint is not signed (it may have been replaced)",
                **where,
            )
        ok = keys.check(self.message, self.mac)
        if ok is None:
            return Problem(
                "检查点的签名密钥未知（请在密钥文件中保留旧密钥）",
                "checkpoint signed with an unknown key (keep retired keys in the key file)",
                **where,
            )
        if not ok:
            return Problem("检查点被改动：签名不符", "checkpoint altered: MAC mismatch", **where)
        return None


def write(directory: Path, seq: int, head: str, at: datetime, keys: Keyring) -> Path:
    """Sign the head ``(seq, head)`` and write it as a new file in ``directory``."""
    cp = Checkpoint(seq, head, at.isoformat(timespec="microseconds"), None)
    body = {"format": FORMAT, "seq": seq, "hash": head, "at": cp.at, "mac": keys.mac(cp.message)}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{seq:012d}.json"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(body, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read(directory: Path) -> tuple[list[Checkpoint], list[Problem]]:
    """Every checkpoint in ``directory``, and a problem for each file that is not one."""
    if not directory.is_dir():
        raise ValidationError(
            "检查点目录不存在",
            "checkpoint directory does not exist",
            [Problem("不是目录", "not a directory", file=str(directory), field="checkpoints")],
        )
    out, bad = [], []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(d.get("format"))
            out.append(Checkpoint(int(d["seq"]), str(d["hash"]), str(d["at"]), d["mac"], str(path)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            bad.append(
                Problem(
                    "检查点文件无法读取或格式不符",
                    "checkpoint file unreadable or not a checkpoint",
                    file=str(path),
                    field="checkpoint",
                )
            )
    return out, bad
