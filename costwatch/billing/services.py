"""Billing: sources with encrypted admin keys, pulls and file imports that replace whole UTC days,
and the reconciliation of the provider's bill with Costwatch's estimate.

Every write of a bill replaces (project, provider, day) as a whole in one transaction, so pulling
or importing a day again changes nothing but what the provider changed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from costwatch.billing import crypto
from costwatch.billing.estimate import NO_CALLS, Estimate, estimates_by_model, estimates_by_utc_day
from costwatch.billing.models import BILL_PLACES, BilledCost, BilledDay, BillImport, BillingSource, BillOrigin, Provider
from costwatch.billing.sources import SOURCES, BilledLine, SourceError, source_for
from costwatch.billing.sources.base import http_client
from costwatch.projects.calendar import UTC_CALENDAR
from costwatch.projects.models import Project

log = logging.getLogger(__name__)

PERCENT_PLACES = Decimal("0.01")
MAX_RECONCILE_DAYS = 400
MAX_MODEL_DAYS = 62


class BillingError(ValueError):
    """Bad input for a billing operation; the message says what to fix."""


# --- Sources --------------------------------------------------------------------------------------


def add_source(
    project: Project, provider: str, key: str, *, name: str = "", scope_ids: Iterable[str] = (), base_url: str = ""
) -> BillingSource:
    """A billing source with ``key`` stored encrypted (crypto.encrypt); it is never returned again.

    Beat pulls it within COSTWATCH_BILLING_CHECK_INTERVAL_SECONDS. Raises BillingError.
    """
    if provider not in SOURCES:
        raise BillingError(f"provider must be one of {', '.join(sorted(SOURCES))}")
    key = (key or "").strip()
    if not key:
        raise BillingError("an admin key is required")
    scopes = sorted({s.strip() for s in scope_ids if s and s.strip()})
    if base_url and not base_url.startswith(("http://", "https://")):
        raise BillingError("base_url must start with http:// or https://")
    return BillingSource.objects.create(
        project=project,
        provider=provider,
        name=name.strip() or Provider(provider).label,
        encrypted_key=crypto.encrypt(key),
        key_hint=key[-4:],
        scope_ids=scopes,
        base_url=base_url.strip(),
        next_pull_at=timezone.now(),
    )


def revoke_source(source: BillingSource, now: datetime | None = None) -> bool:
    """Forget the admin key (the ciphertext is erased) and stop pulling. False if already revoked.

    The bills already pulled stay.
    """
    return bool(
        BillingSource.objects.filter(pk=source.pk, revoked_at__isnull=True).update(
            revoked_at=now or timezone.now(), encrypted_key="", next_pull_at=None
        )
    )


# --- Writing bills --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    provider: str
    days: list[date]
    lines: int
    total_by_currency: dict[str, Decimal]


def replace_days(
    project: Project,
    provider: str,
    days: Iterable[date],
    lines: Sequence[BilledLine],
    *,
    origin: str,
    source: BillingSource | None = None,
    filename: str = "",
    now: datetime | None = None,
) -> ImportResult:
    """Replace the bill of every day in ``days`` (days without lines are billed nothing) in one transaction."""
    now = now or timezone.now()
    for line in lines:
        exponent = line.amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -BILL_PLACES:
            raise SourceError(
                f"{provider}: amount {line.amount} of {line.day} has more than {BILL_PLACES} decimal "
                "places; refused rather than rounded",
                permanent=True,
            )
    covered = sorted(set(days) | {line.day for line in lines})
    by_day: dict[date, list[BilledLine]] = defaultdict(list)
    for line in lines:
        by_day[line.day].append(line)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with transaction.atomic():
        BilledDay.objects.filter(project=project, provider=provider, day__in=covered).delete()
        headers = BilledDay.objects.bulk_create(
            [
                BilledDay(project=project, provider=provider, day=d, origin=origin, source=source, imported_at=now)
                for d in covered
            ]
        )
        rows = []
        for header in headers:
            for line in by_day[header.day]:
                totals[line.currency] += line.amount
                rows.append(
                    BilledCost(
                        billed_day=header,
                        line_item=line.line_item[:300],
                        model=line.model[:200],
                        scope_id=line.scope_id[:200],
                        amount=line.amount,
                        currency=line.currency[:8],
                    )
                )
        BilledCost.objects.bulk_create(rows, batch_size=2000)
        BillImport.objects.create(
            project=project,
            provider=provider,
            origin=origin,
            source=source,
            filename=filename,
            first_day=covered[0] if covered else None,
            last_day=covered[-1] if covered else None,
            days=len(covered),
            lines=len(rows),
            ok=True,
            at=now,
        )
    return ImportResult(provider, covered, len(rows), dict(totals))


def pull_source(source_id: int, days: int | None = None, *, now: datetime | None = None) -> ImportResult | None:
    """Pull the last ``days`` UTC days (default COSTWATCH_BILLING_PULL_DAYS, today included) from the
    provider and replace them. Returns None when the source is gone or revoked.

    Raises SourceError (also recorded on the source and in the import history) when the provider
    cannot be read; nothing already stored is touched then.
    """
    now = now or timezone.now()
    source = BillingSource.objects.select_related("project").filter(pk=source_id).first()
    if source is None or not source.active:
        return None
    days = days or settings.COSTWATCH_BILLING_PULL_DAYS
    last_day = UTC_CALENDAR.date_of(now)
    first_day = last_day - timedelta(days=days - 1)
    module = source_for(source.provider)
    days_covered = [first_day + timedelta(days=i) for i in range(days)]
    try:
        key = crypto.decrypt(source.encrypted_key)
        with http_client() as client:
            lines = module.fetch_costs(client, key, source.base_url, first_day, last_day, source.scope_ids)
        result = replace_days(
            source.project, source.provider, days_covered, lines, origin=BillOrigin.API, source=source, now=now
        )
    except (SourceError, crypto.SecretUnreadable) as exc:
        message = str(exc)
        BillingSource.objects.filter(pk=source.pk).update(last_pull_at=now, last_pull_ok=False, last_error=message)
        BillImport.objects.create(
            project=source.project,
            provider=source.provider,
            origin=BillOrigin.API,
            source=source,
            first_day=first_day,
            last_day=last_day,
            ok=False,
            error=message,
            at=now,
        )
        log.warning("billing pull of source %s failed: %s", source.pk, message)
        if isinstance(exc, SourceError):
            raise
        raise SourceError(message, permanent=True) from None
    BillingSource.objects.filter(pk=source.pk).update(last_pull_at=now, last_pull_ok=True, last_error="")
    return result


def claim_due_sources(now: datetime | None = None) -> list[int]:
    """Ids of active sources whose pull is due, each claimed by moving its ``next_pull_at`` forward
    (a conditional UPDATE: two beats never claim the same source)."""
    now = now or timezone.now()
    every = timedelta(hours=settings.COSTWATCH_BILLING_PULL_EVERY_HOURS)
    claimed = []
    due = (
        BillingSource.objects.filter(revoked_at__isnull=True, next_pull_at__lte=now)
        .exclude(encrypted_key="")
        .values_list("id", "next_pull_at")
        .order_by("next_pull_at", "id")
    )
    for source_id, next_pull_at in list(due):
        if BillingSource.objects.filter(pk=source_id, next_pull_at=next_pull_at).update(next_pull_at=now + every):
            claimed.append(source_id)
    return claimed


def request_pull(source: BillingSource, now: datetime | None = None) -> bool:
    """Make the source due now ("pull now"); the worker pulls it. False when it is revoked."""
    return bool(
        BillingSource.objects.filter(pk=source.pk, revoked_at__isnull=True)
        .exclude(encrypted_key="")
        .update(next_pull_at=now or timezone.now())
    )


def import_csv(
    project: Project, provider: str, text: str, *, filename: str = "", now: datetime | None = None
) -> ImportResult:
    """Import a provider's cost CSV (columns: see the source module's ``parse_csv``): the days it
    covers are replaced. A file with any bad row raises SourceError naming it and changes nothing."""
    module = source_for(provider)
    try:
        parsed = module.parse_csv(text)
    except SourceError as exc:
        BillImport.objects.create(
            project=project,
            provider=provider,
            origin=BillOrigin.CSV,
            filename=filename[:300],
            ok=False,
            error=str(exc),
            at=now or timezone.now(),
        )
        raise
    if not parsed.days:
        raise SourceError("the file has no rows", permanent=True)
    return replace_days(
        project, provider, parsed.days, parsed.lines, origin=BillOrigin.CSV, filename=filename[:300], now=now
    )


# --- Reconciliation -------------------------------------------------------------------------------


@dataclass
class ModelLine:
    """Billed and estimated for one model of a provider-day (bill lines naming no model: model '')."""

    model: str
    billed: Decimal | None
    currency: str | None
    estimate: Estimate | None
    line_items: list[str] = field(default_factory=list)

    @property
    def difference(self) -> Decimal | None:
        return _difference(self.billed, self.currency, self.estimate)


@dataclass
class ReconciliationRow:
    """One provider-day. ``billed`` None = no bill for that day; in ``currency`` (never converted).

    ``difference`` = billed − estimated and ``drift_percent`` = difference ÷ billed × 100 are None
    when either side is unknown or the bill is not in USD.
    """

    day: date
    provider: str
    billed: Decimal | None
    currency: str | None
    estimate: Estimate
    origin: str | None = None
    imported_at: datetime | None = None
    models: list[ModelLine] | None = None
    complete_day: bool = True

    @property
    def difference(self) -> Decimal | None:
        return _difference(self.billed, self.currency, self.estimate)

    @property
    def drift_percent(self) -> Decimal | None:
        diff = self.difference
        if diff is None or self.billed is None:
            return None
        if self.billed == 0:  # nothing billed: 0 % if nothing estimated either, else unbounded
            return Decimal(0) if diff == 0 else None
        return (diff / self.billed * 100).quantize(PERCENT_PLACES)

    @property
    def status(self) -> str:
        """ok | no_bill | mixed_currencies | not_usd | estimate_unknown — why a difference is missing."""
        if self.billed is None:
            return "mixed_currencies" if self.currency == "mixed" else "no_bill"
        if self.currency != "USD":
            return "not_usd"
        if self.estimate.cost_usd is None:
            return "estimate_unknown"
        return "ok"


def _difference(billed: Decimal | None, currency: str | None, estimate: Estimate | None) -> Decimal | None:
    if billed is None or currency != "USD" or estimate is None or estimate.cost_usd is None:
        return None
    return billed - estimate.cost_usd


def _bill_total(lines: Sequence[BilledCost]) -> tuple[Decimal | None, str | None]:
    currencies = {line.currency for line in lines}
    if len(currencies) > 1:
        return None, "mixed"
    return sum((line.amount for line in lines), Decimal(0)), (currencies.pop() if currencies else "USD")


def reconcile(
    project: Project,
    first_day: date,
    last_day: date,
    *,
    providers: Sequence[str] | None = None,
    by_model: bool = False,
    now: datetime | None = None,
) -> list[ReconciliationRow]:
    """Provider-days (UTC) from first_day to last_day, inclusive, that have a bill or calls.

    Billed comes from the stored bills, estimated from ``estimates_by_utc_day`` (hour rollups).
    ``by_model`` adds per-model lines (raw calls; at most MAX_MODEL_DAYS days). Raises BillingError.
    """
    if last_day < first_day:
        raise BillingError("end must not be before start")
    if (last_day - first_day).days + 1 > MAX_RECONCILE_DAYS:
        raise BillingError(f"a reconciliation may span at most {MAX_RECONCILE_DAYS} days")
    if by_model and (last_day - first_day).days + 1 > MAX_MODEL_DAYS:
        raise BillingError(f"per-model detail may span at most {MAX_MODEL_DAYS} days")
    providers = list(providers or sorted(SOURCES))
    for provider in providers:
        source_for(provider)
    today = UTC_CALENDAR.date_of(now or timezone.now())
    bills = BilledDay.objects.filter(
        project=project, provider__in=providers, day__gte=first_day, day__lte=last_day
    ).prefetch_related("lines")
    bill_of = {(b.provider, b.day): b for b in bills}
    rows: list[ReconciliationRow] = []
    for provider in providers:
        module = SOURCES[provider]
        estimates = estimates_by_utc_day(project, module.COSTWATCH_PROVIDERS, first_day, last_day)
        model_estimates = (
            estimates_by_model(project, module.COSTWATCH_PROVIDERS, first_day, last_day) if by_model else {}
        )
        days = sorted({d for (p, d) in bill_of if p == provider} | set(estimates))
        for day in days:
            bill = bill_of.get((provider, day))
            lines = list(bill.lines.all()) if bill else []
            billed, currency = _bill_total(lines) if bill else (None, None)
            row = ReconciliationRow(
                day,
                provider,
                billed,
                currency,
                estimates.get(day, NO_CALLS),
                bill.origin if bill else None,
                bill.imported_at if bill else None,
                complete_day=day < today,
            )
            if by_model:
                row.models = _model_lines(day, lines if bill else None, model_estimates)
            rows.append(row)
    rows.sort(key=lambda r: (r.day, r.provider))
    return rows


def _model_lines(
    day: date, lines: list[BilledCost] | None, estimates: dict[tuple[date, str], Estimate]
) -> list[ModelLine]:
    billed: dict[str, list[BilledCost]] = defaultdict(list)
    for line in lines or []:
        billed[line.model].append(line)
    estimated = {model: e for (d, model), e in estimates.items() if d == day}
    # The bill and the spans may spell a model's case differently; match case-insensitively.
    by_lower = {m.lower(): m for m in estimated}
    out = []
    for model, model_lines in sorted(billed.items()):
        amount, currency = _bill_total(model_lines)
        match = by_lower.pop(model.lower(), None) if model else None
        out.append(
            ModelLine(
                model,
                amount,
                currency,
                estimated.get(match) if match else None,
                sorted({line.line_item for line in model_lines if line.line_item}),
            )
        )
    for _lower, model in sorted(by_lower.items()):
        out.append(ModelLine(model, None, None, estimated[model]))  # not named on the bill
    return out


def history(project: Project, limit: int = 20) -> list[BillImport]:
    return list(BillImport.objects.filter(project=project).select_related("source")[:limit])


def sources_of(project: Project) -> list[BillingSource]:
    return list(BillingSource.objects.filter(project=project))
