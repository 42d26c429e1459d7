"""A real Celery worker with its beat pulls a due billing source from a local provider server."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from costwatch.billing import services
from costwatch.billing.models import BilledCost, BillingSource
from tests.alerts.test_worker import start_worker, stop_worker
from tests.billing.conftest import Answer, Seen


@pytest.mark.process
@pytest.mark.django_db(transaction=True)
def test_beat_pulls_a_due_source_in_a_real_worker(acme, provider_server, tmp_path, settings) -> None:  # noqa: ANN001
    settings.COSTWATCH_SECRETS_KEY = "shared-by-web-and-worker"
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)

    def answer(seen: Seen) -> Answer:
        return Answer(
            body={
                "has_more": False,
                "next_page": None,
                "data": [
                    {
                        "starting_at": today.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "ending_at": "",
                        "results": [
                            {
                                "amount": "250",
                                "currency": "USD",
                                "description": "Claude Haiku 4.5 Usage - Output Tokens",
                                "model": "claude-haiku-4-5",
                                "workspace_id": None,
                            }
                        ],
                    }
                ],
            }
        )

    server = provider_server(answer)
    source = services.add_source(acme, "anthropic", "sk-ant-admin-worker", base_url=server.url)

    process, log = start_worker(
        tmp_path,
        COSTWATCH_SECRETS_KEY="shared-by-web-and-worker",
        COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS="1",
        COSTWATCH_BILLING_PULL_DAYS="2",
        COSTWATCH_ROLLUP_INTERVAL_SECONDS="3600",
        COSTWATCH_ALERT_INTERVAL_SECONDS="3600",
    )
    try:
        deadline = time.monotonic() + 90
        while not BilledCost.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.3)
    finally:
        stop_worker(process)
    assert BilledCost.objects.exists(), "no bill pulled; worker log:\n" + log.read_text()[-4000:]
    assert list(BilledCost.objects.values_list("amount", flat=True)) == [Decimal("2.5")]
    source = BillingSource.objects.get(pk=source.pk)
    assert source.last_pull_ok is True and source.next_pull_at > source.last_pull_at
    assert server.seen[0].headers["x-api-key"] == "sk-ant-admin-worker"
    assert len(server.seen) == 1  # claimed once, not on every beat
