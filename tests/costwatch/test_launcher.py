"""`make run` on the embedded defaults: real web, gRPC, worker, beat and PostgreSQL, supervised.

The launcher is started the way a script does it (``setsid make run &``: a background job with
SIGINT ignored), its children are killed with SIGKILL while exports keep arriving, and it is
stopped with SIGINT. On a timeout the whole process group is killed and the embedded
PostgreSQL stopped, so no test leaves a server running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.process


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


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError:
        return 0, {}


def _export(port: int, key: str, n: int) -> int:
    start = datetime.now(timezone.utc) - timedelta(seconds=30)
    nanos = str(int(start.timestamp() * 1e9))
    span = {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": nanos,
        "endTimeUnixNano": nanos,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "10"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "5"}},
        ],
    }
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "x-costwatch-key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


class Launcher:
    def __init__(self, tmp_path: Path) -> None:
        self.var = tmp_path / "var"
        self.port = _free_port()
        self.grpc_port = _free_port()
        self.log = tmp_path / "run.log"
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
        env.update(
            COSTWATCH_VAR_DIR=str(self.var),
            COSTWATCH_PORT=str(self.port),
            COSTWATCH_HEARTBEAT_SECONDS="1",
            COSTWATCH_HEARTBEAT_STALE_SECONDS="8",
            COSTWATCH_WORKER_WATCHDOG_SECONDS="20",
            COSTWATCH_GRPC_PORT=str(self.grpc_port),
            COSTWATCH_WORKER_CONCURRENCY="1",
            COSTWATCH_WEB_WORKERS="2",
        )
        self._out = self.log.open("wb")

        def background_job() -> None:
            # What a shell does for `cmd &` without job control: the job ignores SIGINT.
            signal.signal(signal.SIGINT, signal.SIG_IGN)

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "costwatch.launcher"],
            cwd=REPO,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=background_job,
        )

    @property
    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def pids(self, name: str) -> list[int]:
        return [int(pid) for pid in re.findall(rf"started {name} \(pid (\d+)\)", self.text)]

    def wait_for(self, what: str, condition, timeout: float = 120) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"launcher exited while waiting for {what}:\n{self.text[-4000:]}"
            if condition():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}:\n{self.text[-4000:]}")

    def fresh_heartbeat(self) -> bool:
        status, health = _get(self.url("/healthz"))
        return status == 200 and health.get("worker", {}).get("status") == "ok"

    def postmaster_pid(self) -> int | None:
        pidfile = self.var / "pgdata" / "postmaster.pid"
        return int(pidfile.read_text().split()[0]) if pidfile.exists() else None

    def cleanup(self) -> None:
        """Whatever happened: no process of this launcher and no embedded PostgreSQL left."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        for pid in self.pids(r"\w+"):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.postmaster_pid() is not None:
            from costwatch.embedded import stop_embedded_database

            try:
                stop_embedded_database(self.var)
            except Exception:  # noqa: BLE001 - best effort after a failure; the assertion already failed
                pass
        self._out.close()


@pytest.fixture
def launcher() -> Iterator[Launcher]:
    # Not under pytest's tmp_path: as root, pgserver runs PostgreSQL as the "pgserver" user, which
    # must traverse every parent folder, and a concurrent pytest run resets /tmp/pytest-of-<user>
    # to mode 0700.
    folder = Path(tempfile.mkdtemp(prefix="costwatch-launcher-"))
    folder.chmod(0o755)
    run = Launcher(folder)
    try:
        yield run
    finally:
        run.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_make_run_supervises_its_children_and_stops_on_sigint_from_a_background_job(launcher: Launcher) -> None:
    launcher.wait_for("a fresh worker heartbeat", launcher.fresh_heartbeat)
    text = launcher.text
    assert re.search(r"^COSTWATCH_INGEST_KEY=cw_ingest_\S+$", text, re.M)
    assert re.search(r"^COSTWATCH_API_KEY=cw_read_\S+$", text, re.M)
    assert f"http://127.0.0.1:{launcher.port}/v1/traces" in text
    assert f"OTLP/gRPC:       127.0.0.1:{launcher.grpc_port}" in text
    assert f"OTLP/gRPC receiver listening on 127.0.0.1:{launcher.grpc_port}" in text
    assert "sqla+postgresql+psycopg" in text  # the default broker, no filesystem transport
    status, ready = _get(launcher.url("/readyz"))
    assert status == 200 and ready["broker"]["status"] == "ok", ready
    key = re.search(r"^COSTWATCH_INGEST_KEY=(\S+)$", text, re.M).group(1)

    # Exports keep arriving while the worker is killed twice and restarted.
    statuses: list[int] = []
    stop = threading.Event()

    def send() -> None:
        n = 0
        while not stop.is_set():
            statuses.append(_export(launcher.port, key, n))
            n += 1
            time.sleep(0.1)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        for kill in (1, 2):
            worker = launcher.pids("worker")[-1]
            os.killpg(worker, signal.SIGKILL)
            launcher.wait_for(f"worker restart #{kill}", lambda kill=kill: len(launcher.pids("worker")) == kill + 1)
            assert re.search(rf"worker \(pid {worker}\) exited with signal SIGKILL", launcher.text)
        launcher.wait_for("a fresh heartbeat from the restarted worker", launcher.fresh_heartbeat)
    finally:
        stop.set()
        sender.join(30)
    assert statuses and set(statuses) == {200}, f"exports refused while the worker restarted: {statuses}"

    # The embedded PostgreSQL is killed: the launcher starts it again, and beat and worker reconnect.
    postmaster = launcher.postmaster_pid()
    os.kill(postmaster, signal.SIGKILL)
    launcher.wait_for("the embedded PostgreSQL to come back", lambda: "PostgreSQL is running again" in launcher.text)
    launcher.wait_for("a ready web process", lambda: _get(launcher.url("/readyz"))[0] == 200)
    assert launcher.postmaster_pid() != postmaster
    launcher.wait_for("a fresh heartbeat after the database restart", launcher.fresh_heartbeat)
    assert _export(launcher.port, key, 10_000) == 200
    assert launcher.pids("web")[:1] == launcher.pids("web")  # web never restarted: ingest stayed up

    children = [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", launcher.text)]
    launcher.proc.send_signal(signal.SIGINT)
    assert launcher.proc.wait(60) == 0, launcher.text[-3000:]
    assert "received SIGINT" in launcher.text
    assert not any(_alive(pid) for pid in children)
    assert launcher.postmaster_pid() is None, "embedded PostgreSQL still running"


def test_sighup_stops_everything_and_the_embedded_database(launcher: Launcher) -> None:
    launcher.wait_for("all four services", lambda: len(re.findall(r"started \w+ \(pid", launcher.text)) == 4)
    launcher.wait_for("a ready web process", lambda: _get(launcher.url("/readyz"))[0] == 200)
    children = [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", launcher.text)]
    launcher.proc.send_signal(signal.SIGHUP)
    assert launcher.proc.wait(60) == 0, launcher.text[-3000:]
    assert "received SIGHUP" in launcher.text
    assert not any(_alive(pid) for pid in children)
    assert launcher.postmaster_pid() is None
