"""A private PostgreSQL cluster for fault tests: initdb into a temporary directory, its own port.

The fault tests kill the postmaster with SIGKILL; doing that to the shared server would break every
other test on the machine, so they get a cluster of their own from the Debian server binaries
(``/usr/lib/postgresql/<version>/bin``). PostgreSQL refuses to run as root, so as root the
binaries run as the ``postgres`` OS user (``runuser``) in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

from sqlalchemy import text

from kejin.db import make_engine

RUN_AS = "postgres"


def server_bin() -> Path | None:
    """The newest installed server's ``bin`` directory, or None when no server is installed."""
    found = sorted(
        (Path(p).parent for p in glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found and (found[-1] / "pg_ctl").exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One initdb'd cluster on loopback; ``kill_postmaster`` and ``start`` drive the fault."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="kejin_pgfault_"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam(RUN_AS)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", RUN_AS, "--"]
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bindir / tool), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, deadline_s: float = 60) -> None:
        """Start the server (after a crash: once the killed postmaster's backends have gone).

        Backends of a SIGKILLed postmaster exit when they next wait for their client; until they
        have, the new postmaster refuses to start on their shared memory — so this retries.
        """
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=on"
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                          "-t", "60", "-o", opts, "start")  # fmt: skip
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill_postmaster(self) -> None:
        """SIGKILL the postmaster, no shutdown of any kind: what the OOM killer does."""
        pid = self.postmaster_pid()
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists():  # a zombie of pg_ctl's shell is reaped by init
            if _state(pid) == "Z":
                break
            time.sleep(0.05)

    def create_database(self, name: str) -> str:
        admin = make_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
