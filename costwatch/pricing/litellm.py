"""Price rows from a LiteLLM ``model_prices_and_context_window.json``.

LiteLLM keys models by name and gives prices per token as JSON numbers (``2.5e-06``). Each
entry becomes one ``PriceRow`` with prices per million tokens, converted through ``str`` so
that no binary float error reaches the money (``2.5e-06`` → ``Decimal("2.5")``).

Entries that cannot be priced per token (images, audio, rerank, ...) or that are malformed
(negative, NaN, missing prices) are returned in ``skipped`` with a reason; one bad entry
never stops the import. The ``sample_spec`` documentation entry is ignored.

Fields read: ``litellm_provider``, ``mode``, ``input_cost_per_token``,
``output_cost_per_token``, ``cache_read_input_token_cost``,
``cache_creation_input_token_cost``, ``cache_creation_input_token_cost_above_1hr``, the
long-context prices ``*_above_200k_tokens`` (or ``*_above_128k_tokens``),
``input_cost_per_token_batches`` / ``output_cost_per_token_batches`` (a batch discount when
both are the same fraction of the standard prices), ``max_input_tokens`` and
``max_output_tokens``.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from costwatch.pricing.cost import PriceRow
from costwatch.pricing.matching import normalize_provider

_SPEC_KEY = "sample_spec"
_TOKEN_MODES = frozenset({"chat", "completion", "embedding", "responses"})
_PER_MILLION = Decimal(1_000_000)
_LONG_TIERS = (200_000, 128_000)


@dataclass(frozen=True)
class LiteLLMImport:
    rows: list[PriceRow]
    skipped: list[tuple[str, str]]  # (model, reason)


class _BadEntry(ValueError):
    pass


def _per_million(entry: Mapping[str, Any], field: str) -> Decimal | None:
    if field not in entry or entry[field] is None:
        return None
    value = entry[field]
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise _BadEntry(f"{field} is not a number: {value!r}")
    try:
        per_token = Decimal(str(value))
    except decimal.InvalidOperation:
        raise _BadEntry(f"{field} is not a number: {value!r}") from None
    if not per_token.is_finite():
        raise _BadEntry(f"{field} is not finite: {value!r}")
    if per_token < 0:
        raise _BadEntry(f"{field} is negative: {value!r}")
    with decimal.localcontext(decimal.Context(prec=60, traps=[decimal.Inexact])):
        price = (per_token * _PER_MILLION).normalize()
    # normalize() writes 10 as 1E+1; keep whole prices as plain integers. (A finite price's exponent is an int.)
    exponent = price.as_tuple().exponent
    return price.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else price


def _token_limit(entry: Mapping[str, Any], field: str) -> int | None:
    value = entry.get(field)
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _long_context(entry: Mapping[str, Any]) -> dict[str, Any]:
    tiers = {}
    for threshold in _LONG_TIERS:
        suffix = f"_above_{threshold // 1000}k_tokens"
        prices = {
            "long_input": _per_million(entry, "input_cost_per_token" + suffix),
            "long_output": _per_million(entry, "output_cost_per_token" + suffix),
            "long_cache_read": _per_million(entry, "cache_read_input_token_cost" + suffix),
            "long_cache_write": _per_million(entry, "cache_creation_input_token_cost" + suffix),
        }
        if any(price is not None for price in prices.values()):
            tiers[threshold] = prices
    if len(tiers) > 1:
        raise _BadEntry("more than one long-context tier; a price row holds one")
    if not tiers:
        return {}
    ((threshold, prices),) = tiers.items()
    return {"long_context_threshold": threshold, **prices}


def _batch_discount(entry: Mapping[str, Any], input_: Decimal, output: Decimal) -> Decimal | None:
    batch_input = _per_million(entry, "input_cost_per_token_batches")
    batch_output = _per_million(entry, "output_cost_per_token_batches")
    if batch_input is None or batch_output is None or input_ == 0 or output == 0:
        return None
    try:
        with decimal.localcontext(decimal.Context(prec=28, traps=[decimal.Inexact])):
            off_input = 1 - batch_input / input_
            off_output = 1 - batch_output / output
    except decimal.Inexact:
        return None  # a ratio such as 1/3 is no clean discount; keep the standard price only
    if off_input != off_output or not 0 < off_input <= 1:
        return None
    return off_input.normalize()


def _model_key(name: str, raw_provider: str) -> str:
    key = name.strip().lower()
    prefix, slash, rest = key.partition("/")
    if (
        slash
        and rest
        and (prefix == raw_provider.lower() or normalize_provider(prefix) == normalize_provider(raw_provider))
    ):
        return rest
    return key


def _row(
    name: str,
    entry: Mapping[str, Any],
    *,
    effective_from: date,
    checked_on: date | None,
    source_url: str,
) -> PriceRow:
    raw_provider = entry.get("litellm_provider")
    if not isinstance(raw_provider, str) or not raw_provider.strip():
        raise _BadEntry("no litellm_provider")
    mode = entry.get("mode") or "chat"
    if mode not in _TOKEN_MODES:
        raise _BadEntry(f"mode {mode!r} is not priced per token")
    input_ = _per_million(entry, "input_cost_per_token")
    if input_ is None:
        raise _BadEntry("no input_cost_per_token")
    output = _per_million(entry, "output_cost_per_token")
    if output is None:
        if mode != "embedding":
            raise _BadEntry("no output_cost_per_token")
        output = Decimal(0)
    cache_write_1h = _per_million(entry, "cache_creation_input_token_cost_above_1hr")
    return PriceRow(
        provider=normalize_provider(raw_provider) or raw_provider,
        model=_model_key(name, raw_provider),
        input=input_,
        output=output,
        cache_read=_per_million(entry, "cache_read_input_token_cost"),
        cache_write=_per_million(entry, "cache_creation_input_token_cost"),
        cache_write_1h=cache_write_1h,
        batch_discount=_batch_discount(entry, input_, output),
        effective_from=effective_from,
        context_window=_token_limit(entry, "max_input_tokens"),
        max_output_tokens=_token_limit(entry, "max_output_tokens"),
        source_url=source_url,
        checked_on=checked_on,
        **_long_context(entry),
    )


def parse_litellm(
    data: Mapping[str, Any],
    *,
    effective_from: date,
    checked_on: date | None = None,
    source_url: str = "",
) -> LiteLLMImport:
    """One row per priceable entry, in file order; see the module docstring.

    When two entries land on the same (provider, model) — ``gpt-4o`` and ``azure/gpt-4o``
    are both ``openai``/``gpt-4o`` — the entry whose own provider is the normalized one wins
    (OpenAI's list price over Azure's), otherwise the first; the other is skipped.
    """
    rows: dict[tuple[str, str], tuple[str, bool, PriceRow]] = {}
    skipped: list[tuple[str, str]] = []
    for name, entry in data.items():
        if name == _SPEC_KEY:
            continue
        if not isinstance(name, str) or not name.strip():
            skipped.append((str(name), "empty model name"))
            continue
        if not isinstance(entry, Mapping):
            skipped.append((name, "entry is not an object"))
            continue
        try:
            row = _row(name, entry, effective_from=effective_from, checked_on=checked_on, source_url=source_url)
        except (_BadEntry, TypeError, ValueError) as exc:
            skipped.append((name, str(exc)))
            continue
        own_provider = entry["litellm_provider"].strip().lower() == row.provider
        slot = (row.provider, row.model)
        if slot in rows:
            kept_name, kept_own, _ = rows[slot]
            if own_provider and not kept_own:
                rows[slot] = (name, own_provider, row)
                skipped.append((kept_name, f"same provider and model as {name!r}"))
            else:
                skipped.append((name, f"same provider and model as {kept_name!r}"))
            continue
        rows[slot] = (name, own_provider, row)
    return LiteLLMImport(rows=[row for _, _, row in rows.values()], skipped=skipped)
