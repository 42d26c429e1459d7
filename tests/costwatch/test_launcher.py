"""`make run` on the embedded defaults: real web, worker and beat processes, stopped by Ctrl-C."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_run_command_starts_web_worker_beat_on_embedded_defaults_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    grpc_port = _free_port()
    env.update(COSTWATCH_VAR_DIR=str(tmp_path / "var"), COSTWATCH_PORT=str(port), COSTWATCH_HEARTBEAT_SECONDS="1",
               COSTWATCH_GRPC_PORT=str(grpc_port))
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "costwatch.launcher"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        health: dict = {}
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                        health = json.load(resp)
                    if "worker" in health.get("heartbeats", {}):
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            text = log.read_text()
            assert health.get("status") == "ok", text[-3000:]
            assert "worker" in health["heartbeats"], f"beat+worker never ran a task:\n{text[-3000:]}"
            assert re.search(r"^COSTWATCH_INGEST_KEY=cw_ingest_\S+$", text, re.M)
            assert re.search(r"^COSTWATCH_API_KEY=cw_read_\S+$", text, re.M)
            assert f"http://127.0.0.1:{port}/v1/traces" in text
            assert (tmp_path / "var" / "pgdata" / "postmaster.pid").exists()
            children = [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", text)]
            assert len(children) == 4  # web, worker, beat, grpc
            assert f"OTLP/gRPC receiver listening on 127.0.0.1:{grpc_port}" in text
        finally:
            proc.send_signal(signal.SIGINT)
            code = proc.wait(60)
    assert code == 0, log.read_text()[-3000:]
    assert not any(_alive(pid) for pid in children)
    assert not (tmp_path / "var" / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL still running"
