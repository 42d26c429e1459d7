"""The period-end forecast: spend so far, extrapolated linearly at its pace.

One rule for the month-end forecast of the summary (``usage.queries.summary_of``) and the
forecast level of budget rules (``alerts.evaluation.evaluate_budget``). Pure.
"""

from __future__ import annotations

from decimal import Decimal

FORECAST_PLACES = Decimal("0.000001")


def forecast(spend: Decimal, elapsed: Decimal) -> Decimal:
    """The spend at the period's end at this pace: ``spend`` / ``elapsed`` (the share of the period
    passed, 0–1; see ``Window.elapsed_fraction``), in USD to 6 places (half to even). Before any
    time has passed it is ``spend`` itself."""
    return ((spend / elapsed) if elapsed > 0 else spend).quantize(FORECAST_PLACES)
