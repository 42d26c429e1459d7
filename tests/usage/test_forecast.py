from __future__ import annotations

from decimal import Decimal as D

from costwatch.usage.forecast import forecast


def test_the_forecast_extrapolates_the_spend_at_its_pace() -> None:
    assert forecast(D(10), D("0.5")) == D(20)
    assert forecast(D(1), D(3) / D(7)) == D("2.333333")  # six places, half to even
    assert forecast(D("0.0000005"), D(1)) == D(0)


def test_before_any_time_has_passed_the_forecast_is_the_spend() -> None:
    assert forecast(D("4.5"), D(0)) == D("4.500000")
