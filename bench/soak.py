"""Soak test: `make run` on the embedded defaults under steady load, with the worker killed twice.

Starts the launcher (embedded PostgreSQL, the default PostgreSQL broker, web, gRPC, worker,
beat) in a fresh var folder, sends OTLP/HTTP exports at a steady rate for ``--minutes``, kills
the worker's pool processes at one third and the whole worker (SIGKILL to its process group) at
two thirds, then waits for the rollups to catch up and checks:

- every export was answered 200 (no refused export, no retry needed);
- the cost API's rollup totals equal what was sent: calls per user, and cost = calls x the
  price of one call, exactly (Decimal);
- the rollup path and the raw-calls path of the API agree row for row;
- the launcher logged the restarts and /healthz was fresh again afterwards.

    .venv/bin/python bench/soak.py --minutes 30 --rate 4 --spans 25   # the issue's 30 minutes
    .venv/bin/python bench/soak.py --minutes 5                         # a shorter run

Not part of `make test`. Prints a JSON report (also written to --report).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USERS = [f"soak-user-{n}" for n in range(7)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")
    except OSError:
        return 0, {}


def export_body(batch: int, spans: int) -> tuple[bytes, Counter]:
    now = datetime.now(timezone.utc)
    nanos = str(int(now.timestamp() * 1e9) - 2_000_000_000)
    sent: Counter = Counter()
    items = []
    for i in range(spans):
        n = batch * spans + i
        user = USERS[n % len(USERS)]
        sent[user] += 1
        items.append(
            {
                "traceId": f"{n + 1:032x}",
                "spanId": f"{n + 1:016x}",
                "name": "chat gpt-4o",
                "kind": 3,
                "startTimeUnixNano": nanos,
                "endTimeUnixNano": nanos,
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "200"}},
                    {"key": "enduser.id", "value": {"stringValue": user}},
                ],
            }
        )
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "soak"}}]},
                "scopeSpans": [{"spans": items}],
            }
        ]
    }
    return json.dumps(body).encode(), sent


def post(url: str, body: bytes, key: str) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "x-costwatch-key": key}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=4.0, help="exports per second")
    parser.add_argument("--spans", type=int, default=25, help="LLM spans per export")
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="costwatch-soak-"))
    folder.chmod(0o755)  # as root, pgserver runs PostgreSQL as another user, who must reach var/
    port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(
        COSTWATCH_VAR_DIR=str(folder / "var"),
        COSTWATCH_PORT=str(port),
        COSTWATCH_GRPC_PORT=str(grpc_port),
        COSTWATCH_HEARTBEAT_SECONDS="5",
        COSTWATCH_WORKER_WATCHDOG_SECONDS="30",
        COSTWATCH_INGEST_RATE_PER_MINUTE="0",
    )
    log_path = folder / "run.log"
    log = log_path.open("wb")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "costwatch.launcher"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    report: dict[str, object] = {
        "minutes": args.minutes,
        "rate_per_second": args.rate,
        "spans_per_export": args.spans,
        "var": str(folder),
    }
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and get(f"{base}/healthz")[0] != 200:
            assert launcher.poll() is None, log_path.read_text()[-3000:]
            time.sleep(1)
        text = log_path.read_text()
        ingest_key = re.search(r"^COSTWATCH_INGEST_KEY=(\S+)$", text, re.M).group(1)
        read_key = re.search(r"^COSTWATCH_API_KEY=(\S+)$", text, re.M).group(1)

        statuses: Counter = Counter()
        sent: Counter = Counter()
        stop = threading.Event()
        lock = threading.Lock()

        def sender() -> None:
            batch = 0
            interval = 1 / args.rate
            next_at = time.monotonic()
            while not stop.is_set():
                body, users = export_body(batch, args.spans)
                status = post(f"{base}/v1/traces", body, ingest_key)
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        sent.update(users)
                batch += 1
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))

        thread = threading.Thread(target=sender, daemon=True)
        started = time.monotonic()
        thread.start()
        duration = args.minutes * 60
        kills = []
        for fraction, how in ((1 / 3, "pool"), (2 / 3, "worker")):
            time.sleep(max(0.0, started + duration * fraction - time.monotonic()))
            worker = [int(p) for p in re.findall(r"started worker \(pid (\d+)\)", log_path.read_text())][-1]
            victims = children_of(worker) if how == "pool" else [worker]
            for pid in victims:
                if how == "pool":
                    os.kill(pid, signal.SIGKILL)
                else:
                    os.killpg(pid, signal.SIGKILL)
            kills.append({"at_seconds": round(time.monotonic() - started), "killed": how, "pids": victims})
        time.sleep(max(0.0, started + duration - time.monotonic()))
        stop.set()
        thread.join(120)
        report["kills"] = kills
        report["exports"] = dict(statuses)
        report["spans_sent"] = sum(sent.values())

        # Rollups catch up: wait until the API's call count equals what was acknowledged.
        today = datetime.now(timezone.utc).date().isoformat()
        auth = {"Authorization": f"Bearer {read_key}"}
        costs_url = f"{base}/api/v1/costs?group_by=user&start={today}&end={today}&page_size=1000"
        rows: dict[str, dict] = {}
        catch_up_started = time.monotonic()
        while time.monotonic() - catch_up_started < 600:
            status, body = get(costs_url, auth)
            if status == 200:
                rows = {r["key"]: r for r in body["results"]}
                if sum(r["llm_calls"] for r in rows.values()) == sum(sent.values()):
                    break
            time.sleep(2)
        report["rollup_catch_up_seconds"] = round(time.monotonic() - catch_up_started, 1)
        per_call = None
        status, one = get(f"{base}/api/v1/requests/{1:032x}", auth)
        if status == 200:
            per_call = Decimal(one["calls"][0]["cost_usd"])  # every span has the same model and counts
        calls_ok = all(rows.get(user, {}).get("llm_calls") == count for user, count in sent.items())
        cost_total = sum((Decimal(r["cost_usd"]) for r in rows.values()), Decimal(0))
        expected_total = per_call * sum(sent.values()) if per_call is not None else None
        status, raw = get(costs_url + "&provider=openai", auth)  # the raw-calls path of the same query
        raw_rows = {r["key"]: (r["cost_usd"], r["llm_calls"]) for r in raw.get("results", [])}
        report.update(
            {
                "calls_per_user_exact": calls_ok,
                "cost_per_call_usd": str(per_call),
                "cost_total_usd": str(cost_total),
                "cost_total_expected_usd": str(expected_total),
                "cost_exact": expected_total is not None and cost_total == expected_total,
                "rollup_equals_raw": raw_rows == {k: (r["cost_usd"], r["llm_calls"]) for k, r in rows.items()},
            }
        )
        final = log_path.read_text()
        report["worker_restarts_logged"] = len(re.findall(r"restarting worker", final))
        report["heartbeat_after"] = get(f"{base}/healthz")[1].get("worker")
        report["refused_exports"] = sum(n for s, n in statuses.items() if s != 200)
        report["ok"] = bool(
            report["refused_exports"] == 0 and calls_ok and report["cost_exact"] and report["rollup_equals_raw"]
        )
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            report["launcher_exit"] = launcher.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            report["launcher_exit"] = "killed"
        log.close()
    print(json.dumps(report, indent=2))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
