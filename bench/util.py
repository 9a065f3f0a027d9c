"""Helpers shared by the benchmarks: a migrated database and a real uvicorn process."""

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def ndjson_answer(response: httpx.Response) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An NDJSON import's answer: its result lines, and its last line (counts or error)."""
    *results, last = (json.loads(line) for line in response.text.splitlines())
    if "counts" not in last:
        raise SystemExit(f"the import stopped: {last}")
    return results, last


def migrate(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "app", "migrate"], cwd=ROOT, env=env, check=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of a process in MB; NaN if it has none (or is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


class Server:
    def __init__(
        self, database_url: str, workers: int = 1, log_file: Path | None = None, **env: str
    ) -> None:
        """Start uvicorn on a free port; its stderr (the JSON log) goes to `log_file` if given."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        self.log = log_file.open("ab") if log_file else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", *args, "--log-level", "warning"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": database_url, **env},
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        code = self.process.poll()
        self.stop()
        raise RuntimeError(f"server did not start (exit code {code})")

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the server process (VmHWM), in MB."""
        return _peak_rss_mb(self.process.pid)

    def children_peak_rss_mb(self) -> float:
        """Peak resident memory of the server's child processes (its import workers), summed."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():  # /proc/self and friends
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(stat[1]) != self.process.pid:
                continue
            rss = _peak_rss_mb(int(entry.name))
            if not math.isnan(rss):  # the child may have ended meanwhile
                total += rss
        return total

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        if self.log:
            self.log.close()
