"""Savings opportunities from a group's rollup totals and a bounded sample of its calls (pure).

A *group* is one feature or one endpoint over a period. Its inputs are

* ``GroupTotals``: the rollup sums over the whole period (cost of the priced calls, call counts by
  state: priced, unpriced, unknown usage, estimated; requests; response-cache hits);
* ``SampledCall``: the counted calls (duplicates excluded, attribution resolved by
  ``costwatch.usage.rollups``) of the group's most recent requests, at most ``sample_requests``;
* ``SampledRequest``: those requests' own rollups (``RequestRollup``).

Every estimate is first computed exactly on the sample, then **scaled to the period** and to a
**month**:

    period saving  = sample saving × (period cost of the group's priced calls / sample cost of them)
    monthly saving = period saving × 30 / days in the period           (a month is 30 days)

When the sample is the whole period the first factor is exactly 1. Both are rounded to 1e-6 USD
(half even): estimates, never accounting. A group with unpriced or unknown-usage calls says so on
every opportunity (``excluded_calls``, ``partial``): those calls cannot be priced, so their share
of any saving is unknown and not included; a group without any priced call gets no dollar figure.

The seven kinds and their formulas (thresholds in ``Thresholds``, configurable per project):

1. ``model_whatif`` — the sample's token mix priced on every catalog model that fits (context
   window ≥ the sample's largest prompt + its output; a model whose window the catalog does not
   state is listed as "fit unknown" and never counted; optionally the same provider). A what-if,
   not a verdict: Costwatch cannot judge quality. Saving = current cost − cost on the cheapest
   *approved* alternative (per feature); without one, ``saving_per_month`` is null and
   ``potential_per_month`` shows the cheapest fitting model. Raised when the cheapest fitting model
   costs at most (1 − ``whatif_min_share``) of the current cost.
2. ``prompt_caching`` — stable part P = the smallest prompt of the sample (assumed to be the
   repeated prefix). Raised when P ≥ ``cache_min_prompt_tokens``, P ≥ ``cache_min_stable_share`` ×
   median prompt and the cache-read share of prompt tokens < ``cache_max_read_share``. Per call,
   min(P, uncached input) tokens move from input to a cache read when the previous call of the same
   model came within ``cache_ttl_seconds`` (observed call rate), else to a cache write; saving =
   Σ cost_of(call) − cost_of(call with caching). Needs the model's cache-read price.
3. ``output_caps`` — output tokens p50/p95/p99/max (nearest rank). Raised when max ≥
   ``output_tail_ratio`` × p95 and max > p99; saving of ``max_tokens = p99`` = Σ over calls above
   p99 of cost_of(call) − cost_of(call with output = p99).
4. ``conversation_context`` — conversations with ≥ ``context_min_turns`` calls whose prompt never
   shrinks and grows overall (full history resent). Keeping the last N = ``context_keep_turns``
   turns plus a summary of ``context_summary_tokens``: prompt at turn t > N becomes
   min(prompt_t, prompt_N + summary); saving = Σ cost of the input tokens removed.
5. ``batch`` — calls of traces without a SERVER span (background work). Saving = Σ cost_of(call) −
   cost at the provider's batch price (unavailable for a model whose batch price is not in the
   catalog). Raised when the background calls are ≥ ``batch_min_share`` of the sample's calls.
   (Off-hours bursts of interactive traffic are not counted: an answer someone waits for cannot wait
   for a batch.)
6. ``outliers`` — requests (fully priced) costing ≥ ``outlier_ratio`` × the median request; the top
   ``outlier_top`` with their token split. Saving of a per-request budget at ratio × median =
   Σ (cost − ratio × median) over the outliers, scaled by period requests / sampled requests.
7. ``response_cache`` — where apps send ``costwatch.cache.hit``: the hit rate and what the hits
   saved (Σ list price of the hit calls), status ``realized``. The exact-match part (share of
   repeated prompts from a prompt-hash attribute) is *unavailable*: ingest does not store a prompt
   hash yet, see the README.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, TypeGuard, Unpack

from costwatch.money import decimal_text
from costwatch.pricing.cost import PriceRow, TokenCounts
from costwatch.savings.prices import ModelOption, TokenMix, call_cost, is_batch_tier, mix_cost

KINDS = ("model_whatif", "prompt_caching", "output_caps", "conversation_context", "batch", "outliers", "response_cache")
ESTIMATE_PLACES = Decimal("0.000001")
DAYS_PER_MONTH = Decimal(30)


def rounded(estimate: Decimal) -> Decimal:
    """An estimate in USD at ``ESTIMATE_PLACES`` (half to even): every figure of a report has those places."""
    return estimate.quantize(ESTIMATE_PLACES, ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Thresholds:
    """When an opportunity is raised and how it is estimated. Shares and ratios are plain numbers."""

    sample_requests: int = 1000
    max_groups: int = 50
    min_monthly_saving: Decimal = Decimal("0")
    whatif_min_share: Decimal = Decimal("0.3")
    whatif_same_provider: bool = False
    whatif_table_size: int = 15
    cache_min_prompt_tokens: int = 1024
    cache_min_stable_share: Decimal = Decimal("0.8")
    cache_max_read_share: Decimal = Decimal("0.1")
    cache_ttl_seconds: int = 300
    output_min_calls: int = 20
    output_tail_ratio: Decimal = Decimal("2")
    context_min_turns: int = 4
    context_keep_turns: int = 4
    context_summary_tokens: int = 500
    batch_min_share: Decimal = Decimal("0.5")
    outlier_ratio: Decimal = Decimal("5")
    outlier_top: int = 10

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Thresholds:
        """Defaults overridden by ``data``; raises ``ValueError`` naming an unknown or bad field."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}  # each value checked against its field's type below
        for name, value in data.items():
            if name not in known:
                raise ValueError(f"unknown threshold {name!r}; known: {', '.join(sorted(known))}")
            default = getattr(cls, name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a whole number ≥ 0")
            else:
                try:
                    value = Decimal(str(value)) if not isinstance(value, (float, bool)) else None
                except ArithmeticError:
                    value = None
                if value is None or not value.is_finite() or value < 0:
                    raise ValueError(f"{name} must be a number ≥ 0 given as a string or integer")
            values[name] = value
        thresholds = cls(**values)
        if thresholds.sample_requests < 1 or thresholds.sample_requests > 100_000:
            raise ValueError("sample_requests must be between 1 and 100000")
        if thresholds.max_groups < 1 or thresholds.max_groups > 1000:
            raise ValueError("max_groups must be between 1 and 1000")
        for name in ("whatif_min_share", "cache_min_stable_share", "cache_max_read_share", "batch_min_share"):
            if getattr(thresholds, name) > 1:
                raise ValueError(f"{name} is a share between 0 and 1")
        return thresholds

    def as_json(self) -> dict[str, object]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class GroupTotals:
    """Rollup sums of one group over the period (``RollupDay``/``RollupHour`` metrics)."""

    scope: str  # feature | endpoint
    key: str
    cost: Decimal  # USD, priced calls only
    llm_calls: int
    priced_calls: int
    unpriced_calls: int
    unknown_usage_calls: int
    estimated_calls: int
    requests: int
    response_cache_hits: int

    @property
    def excluded_calls(self) -> int:
        """Calls whose cost is not known (unpriced model or unknown usage)."""
        return self.llm_calls - self.priced_calls


@dataclass(frozen=True)
class SampledCall:
    trace_id: str
    span_id: str
    started_at: datetime
    model: str
    provider: str
    session: str
    counts: TokenCounts
    cost: Decimal | None  # None: unpriced or unknown usage
    list_cost: Decimal | None
    usage_known: bool
    response_cache_hit: bool
    background: bool  # its trace has no SERVER span
    row: PriceRow | None  # the price row that priced it


@dataclass(frozen=True)
class SampledRequest:
    trace_id: str
    first_at: datetime
    cost: Decimal | None  # None unless every call of the request is priced
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    llm_calls: int


if TYPE_CHECKING:
    # For the type checker only: the same objects, their None cases ruled out by the TypeGuards below.
    class _PricedCall(SampledCall):
        """A sampled call whose cost and price row are known (what ``_priced`` keeps)."""

        cost: Decimal
        row: PriceRow

    class _PricedRequest(SampledRequest):
        """A sampled request whose every call is priced."""

        cost: Decimal


@dataclass
class Opportunity:
    """One finding. ``saving_per_month`` (USD) is None when it is not counted or not known;
    ``status``: estimate | what_if | unavailable | realized."""

    kind: str
    scope: str
    key: str
    status: str
    title: str
    saving_per_month: Decimal | None
    potential_per_month: Decimal | None
    formula: str
    evidence: dict[str, object]
    excluded_calls: int = 0
    sampled_calls: int = 0
    notes: list[str] = field(default_factory=list)
    chart: dict[str, object] | None = None

    @property
    def id(self) -> str:
        """``kind:scope:key``: stable across runs, so a digest can tell which findings are new."""
        return f"{self.kind}:{self.scope}:{self.key}"

    @property
    def partial(self) -> bool:
        return self.excluded_calls > 0


@dataclass(frozen=True)
class Scale:
    """From the sample to the period, and from the period to a month."""

    period_days: Decimal
    cost_factor: Decimal | None  # period priced cost / sample priced cost; None: nothing priced

    def monthly(self, sample_amount: Decimal, factor: Decimal | None = None) -> Decimal | None:
        factor = self.cost_factor if factor is None else factor
        if factor is None:
            return None
        return rounded(sample_amount * factor * DAYS_PER_MONTH / self.period_days)


BatchCost = Callable[[TokenCounts, PriceRow, date], "Decimal | None"]


@dataclass(frozen=True)
class GroupInput:
    totals: GroupTotals
    calls: Sequence[SampledCall]
    requests: Sequence[SampledRequest]
    approved: Sequence[tuple[str, str]] = ()  # (provider, model) approved for this feature


def nearest_rank(sorted_values: Sequence[int], percent: int) -> int:
    """The nearest-rank percentile of an ascending, non-empty list."""
    rank = max(1, math.ceil(percent * len(sorted_values) / 100))
    return sorted_values[rank - 1]


def _is_priced(call: SampledCall) -> TypeGuard[_PricedCall]:
    return call.cost is not None and call.row is not None and call.usage_known


def _priced(calls: Sequence[SampledCall]) -> list[_PricedCall]:
    return [c for c in calls if _is_priced(c)]


def _is_priced_request(request: SampledRequest) -> TypeGuard[_PricedRequest]:
    return request.cost is not None


def scale_of(group: GroupInput, period_days: Decimal) -> Scale:
    sample_cost = sum((c.cost for c in _priced(group.calls)), Decimal(0))
    factor = group.totals.cost / sample_cost if sample_cost > 0 else None
    return Scale(period_days, factor)


class _Finding(TypedDict):
    """What each kind states about an opportunity (``Opportunity``'s fields not taken from the group)."""

    status: str
    title: str
    saving_per_month: Decimal | None
    potential_per_month: Decimal | None
    formula: str
    evidence: dict[str, object]
    chart: NotRequired[dict[str, object] | None]


def _base(group: GroupInput, kind: str, **values: Unpack[_Finding]) -> Opportunity:
    totals = group.totals
    opportunity = Opportunity(
        kind=kind,
        scope=totals.scope,
        key=totals.key,
        excluded_calls=totals.excluded_calls,
        sampled_calls=len(group.calls),
        **values,
    )
    if totals.excluded_calls:
        opportunity.notes.append(
            f"{totals.excluded_calls} of {totals.llm_calls} calls have no known cost "
            f"({totals.unpriced_calls} unpriced, {totals.unknown_usage_calls} unknown usage): "
            "their share of the saving is unknown and not included"
        )
    if totals.estimated_calls:
        opportunity.notes.append(f"{totals.estimated_calls} calls have token counts estimated from text")
    return opportunity


def _money(value: Decimal) -> str:
    """An amount of the evidence, rounded as estimates are ("0.013050")."""
    return decimal_text(rounded(value))


# --- 1. Model what-if --------------------------------------------------------------------------------


class _WhatIfRow(TypedDict):
    """One catalog model in the what-if table; ``cost`` prices the sample's token mix on it (USD)."""

    provider: str
    model: str
    cost: Decimal
    context_window: int | None
    fits: bool | None  # None: the catalog states no context window
    current: bool
    approved: bool
    long_context_calls: int


def model_whatif(group: GroupInput, options: Sequence[ModelOption], scale: Scale, t: Thresholds) -> Opportunity | None:
    priced = _priced(group.calls)
    if not priced or scale.cost_factor is None:
        return None
    mix = TokenMix([c.counts for c in priced])
    current = sum((c.cost for c in priced), Decimal(0))
    if current <= 0:
        return None
    largest = max(c.counts.prompt_total + c.counts.output for c in group.calls if c.usage_known)
    largest_prompt = max(c.counts.prompt_total for c in group.calls if c.usage_known)
    providers = {c.provider for c in priced}
    current_models = sorted({(c.row.provider, c.row.model) for c in priced})
    table: list[_WhatIfRow] = []
    unknown_window = 0
    for option in options:
        if t.whatif_same_provider and option.provider not in providers:
            continue
        window = option.context_window
        is_current = (option.provider, option.model) in current_models
        if window is None:
            unknown_window += 1
            if not is_current:
                continue
        elif window < largest and not is_current:
            continue
        priced_mix = mix_cost(mix, option.row)
        table.append(
            {
                "provider": option.provider,
                "model": option.model,
                "cost": priced_mix.cost,
                "context_window": window,
                "fits": None if window is None else window >= largest,
                "current": is_current,
                "approved": (option.provider, option.model) in group.approved,
                "long_context_calls": priced_mix.long_context_calls,
            }
        )
    fitting = [r for r in table if r["fits"] and not r["current"]]
    if not fitting:
        return None
    table.sort(key=lambda r: (r["cost"], r["provider"], r["model"]))
    cheapest = min(fitting, key=lambda r: (r["cost"], r["provider"], r["model"]))
    if cheapest["cost"] > current * (1 - t.whatif_min_share):
        return None
    approved = [r for r in fitting if r["approved"]]
    best_approved = min(approved, key=lambda r: r["cost"]) if approved else None
    potential = scale.monthly(current - cheapest["cost"])
    saving = scale.monthly(current - best_approved["cost"]) if best_approved else None
    shown = table[: t.whatif_table_size]
    shown += [r for r in table[t.whatif_table_size :] if r["current"] or r["approved"]]
    opportunity = _base(
        group,
        "model_whatif",
        status="estimate" if best_approved else "what_if",
        title=(
            f"Move {group.totals.key or '(none)'} to {best_approved['model']} (approved)"
            if best_approved
            else f"What if {group.totals.key or '(none)'} ran on {cheapest['model']}?"
        ),
        saving_per_month=saving if saving is None or saving > 0 else None,
        potential_per_month=potential,
        formula="Σ cost of the sampled calls − the same token mix priced on the alternative "
        "(scaled to the period by cost, to 30 days)",
        evidence={
            "current_models": [f"{p}/{m}" for p, m in current_models],
            "sample_cost": _money(current),
            "largest_prompt_tokens": largest_prompt,
            "largest_call_tokens": largest,
            "cheapest_fitting": f"{cheapest['provider']}/{cheapest['model']}",
            "cheapest_fitting_cost": _money(cheapest["cost"]),
            "approved_alternative": f"{best_approved['provider']}/{best_approved['model']}" if best_approved else None,
            "models_compared": len(table),
            "models_with_unknown_context_window": unknown_window,
            "mix": asdict(mix.total()),
        },
        chart={
            "type": "bar",
            "title": "Cost of this feature's sampled token mix per model (USD)",
            "labels": [f"{r['provider']}/{r['model']}" for r in shown],
            "values": [_money(r["cost"]) for r in shown],
            "current": [bool(r["current"]) for r in shown],
        },
    )
    opportunity.evidence["table"] = [{**r, "cost": _money(r["cost"])} for r in shown]
    opportunity.notes.insert(
        0,
        "A what-if, not a verdict: Costwatch cannot judge answer quality. "
        "Record an approved alternative for the feature to count the saving.",
    )
    if unknown_window:
        opportunity.notes.append(
            f"{unknown_window} catalog models have no context window in the catalog: not compared (fit unknown)"
        )
    return opportunity


# --- 2. Prompt caching -------------------------------------------------------------------------------


def prompt_caching(group: GroupInput, scale: Scale, t: Thresholds) -> Opportunity | None:
    priced = sorted(_priced(group.calls), key=lambda c: (c.started_at, c.span_id))
    if len(priced) < 2:
        return None
    prompts = sorted(c.counts.prompt_total for c in priced)
    stable = prompts[0]
    median = nearest_rank(prompts, 50)
    read_share = Decimal(sum(c.counts.cache_read for c in priced)) / Decimal(sum(prompts) or 1)
    if stable < t.cache_min_prompt_tokens or stable < t.cache_min_stable_share * median:
        return None
    if read_share >= t.cache_max_read_share:
        return None
    no_price = sorted({c.row.model for c in priced if c.row.cache_read is None})
    saving = Decimal(0)
    hits = writes = 0
    last_seen: dict[str, datetime] = {}
    for call in priced:
        model = call.row.model
        previous = last_seen.get(model)
        last_seen[model] = call.started_at
        if call.row.cache_read is None:
            continue
        moved = min(stable, call.counts.input)
        hit = previous is not None and (call.started_at - previous).total_seconds() <= t.cache_ttl_seconds
        if hit:
            hits += 1
            cached = replace(call.counts, input=call.counts.input - moved, cache_read=call.counts.cache_read + moved)
        else:
            writes += 1
            cached = replace(call.counts, input=call.counts.input - moved, cache_write=call.counts.cache_write + moved)
        saving += call_cost(call.counts, call.row) - call_cost(cached, call.row)
    unavailable = hits + writes == 0
    monthly = None if unavailable else scale.monthly(saving)
    opportunity = _base(
        group,
        "prompt_caching",
        status="unavailable" if unavailable else "estimate",
        title=f"Cache the stable {stable:,}-token prompt of {group.totals.key or '(none)'}",
        saving_per_month=monthly,
        potential_per_month=None,
        formula="Σ per call: cost − cost with min(stable part, uncached input) tokens read from the cache "
        "(previous call of the model within the cache TTL) or written to it (otherwise)",
        evidence={
            "stable_prompt_tokens": stable,
            "median_prompt_tokens": median,
            "cache_read_share": str(read_share.quantize(Decimal("0.0001"))),
            "cache_ttl_seconds": t.cache_ttl_seconds,
            "calls_hitting": hits,
            "calls_writing": writes,
            "sample_saving": _money(saving),
        },
    )
    if no_price:
        opportunity.notes.append(
            f"No cache-read price in the catalog for {', '.join(no_price)}: those calls are not estimated"
        )
    if monthly is not None and monthly <= 0:
        return None
    return opportunity


# --- 3. Output caps ----------------------------------------------------------------------------------


def output_caps(group: GroupInput, scale: Scale, t: Thresholds) -> Opportunity | None:
    known = [c for c in group.calls if c.usage_known]
    if len(known) < t.output_min_calls:
        return None
    outputs = sorted(c.counts.output for c in known)
    p50, p95, p99, top = (nearest_rank(outputs, 50), nearest_rank(outputs, 95), nearest_rank(outputs, 99), outputs[-1])
    if top <= p99 or top < t.output_tail_ratio * p95:
        return None
    saving = Decimal(0)
    capped = 0
    for call in _priced(known):
        if call.counts.output > p99:
            capped += 1
            cut = replace(call.counts, output=p99, reasoning=min(call.counts.reasoning, p99))
            saving += call_cost(call.counts, call.row) - call_cost(cut, call.row)
    monthly = scale.monthly(saving)
    if monthly is None or monthly <= 0:
        return None
    bins = 20
    width = max(1, math.ceil((top + 1) / bins))
    histogram = [0] * bins
    for value in outputs:
        histogram[min(value // width, bins - 1)] += 1
    return _base(
        group,
        "output_caps",
        status="estimate",
        title=f"Cap output of {group.totals.key or '(none)'} at max_tokens={p99}",
        saving_per_month=monthly,
        potential_per_month=None,
        formula="Σ over calls with output above p99: cost − cost with output = p99",
        evidence={
            "p50": p50,
            "p95": p95,
            "p99": p99,
            "max": top,
            "calls_capped": capped,
            "sample_saving": _money(saving),
        },
        chart={
            "type": "histogram",
            "title": "Output tokens per call",
            "labels": [f"{i * width}–{(i + 1) * width - 1}" for i in range(bins)],
            "values": histogram,
            "markers": {"p95": p95, "p99": p99},
        },
    )


# --- 4. Conversation context -------------------------------------------------------------------------


def conversation_context(group: GroupInput, scale: Scale, t: Thresholds) -> Opportunity | None:
    by_session: dict[str, list[SampledCall]] = defaultdict(list)
    for call in group.calls:
        if call.session and call.usage_known:
            by_session[call.session].append(call)
    keep = t.context_keep_turns
    saving = Decimal(0)
    growing = 0
    per_turn: dict[int, list[int]] = defaultdict(list)
    kept_turn: dict[int, list[int]] = defaultdict(list)
    growths: list[Decimal] = []
    for calls in by_session.values():
        calls.sort(key=lambda c: (c.started_at, c.span_id))
        prompts = [c.counts.prompt_total for c in calls]
        if len(calls) < t.context_min_turns or prompts[-1] <= prompts[0]:
            continue
        if any(b < a for a, b in zip(prompts, prompts[1:])):
            continue
        growing += 1
        growths.append(Decimal(prompts[-1] - prompts[0]) / (len(prompts) - 1))
        ceiling = prompts[keep] + t.context_summary_tokens if len(prompts) > keep else None
        for turn, call in enumerate(calls):
            prompt = prompts[turn]
            kept = min(prompt, ceiling) if ceiling is not None and turn > keep else prompt
            per_turn[turn].append(prompt)
            kept_turn[turn].append(kept)
            removed = prompt - kept
            if removed and call.cost is not None and call.row is not None:
                from_input = min(removed, call.counts.input)
                from_reads = min(removed - from_input, call.counts.cache_read)
                trimmed = replace(
                    call.counts, input=call.counts.input - from_input, cache_read=call.counts.cache_read - from_reads
                )
                saving += call_cost(call.counts, call.row) - call_cost(trimmed, call.row)
    if not growing:
        return None
    monthly = scale.monthly(saving)
    if monthly is None or monthly <= 0:
        return None
    turns = sorted(per_turn)
    growths.sort()
    return _base(
        group,
        "conversation_context",
        status="estimate",
        title=f"Keep the last {keep} turns plus a summary in {group.totals.key or '(none)'} conversations",
        saving_per_month=monthly,
        potential_per_month=None,
        formula=f"Σ over turns t > {keep} of growing conversations: cost of the prompt tokens above "
        f"prompt_{keep} + {t.context_summary_tokens} summary tokens",
        evidence={
            "growing_conversations": growing,
            "conversations": len(by_session),
            "median_growth_tokens_per_turn": str(growths[len(growths) // 2].quantize(Decimal("0.1"))),
            "keep_turns": keep,
            "summary_tokens": t.context_summary_tokens,
            "sample_saving": _money(saving),
        },
        chart={
            "type": "line",
            "title": "Average prompt tokens per turn (growing conversations)",
            "labels": [str(turn + 1) for turn in turns],
            "values": [sum(per_turn[turn]) // len(per_turn[turn]) for turn in turns],
            "kept": [sum(kept_turn[turn]) // len(kept_turn[turn]) for turn in turns],
        },
    )


# --- 5. Batch ----------------------------------------------------------------------------------------


def batch(group: GroupInput, scale: Scale, t: Thresholds, batch_cost: BatchCost) -> Opportunity | None:
    known = [c for c in group.calls if c.usage_known]
    background = [c for c in _priced(known) if c.background and not c.response_cache_hit and not is_batch_tier(c.row)]
    if not known or not background or Decimal(len(background)) < t.batch_min_share * len(known):
        return None
    saving = Decimal(0)
    no_price: set[str] = set()
    estimated = 0
    for call in background:
        cheaper = batch_cost(call.counts, call.row, call.started_at.date())
        if cheaper is None:
            no_price.add(call.row.model)
            continue
        estimated += 1
        saving += call.cost - cheaper
    monthly = scale.monthly(saving) if estimated else None
    if monthly is not None and monthly <= 0:
        return None
    opportunity = _base(
        group,
        "batch",
        status="estimate" if estimated else "unavailable",
        title=f"Send {group.totals.key or '(none)'} through the batch API",
        saving_per_month=monthly,
        potential_per_month=None,
        formula="Σ over calls of traces without a SERVER span: cost − cost at the provider's batch price",
        evidence={
            "background_calls": len(background),
            "calls": len(known),
            "calls_with_batch_price": estimated,
            "sample_saving": _money(saving),
        },
    )
    if no_price:
        opportunity.notes.append(
            f"No batch price in the catalog for {', '.join(sorted(no_price))}: those calls are not estimated"
        )
    return opportunity


# --- 6. Expensive outliers ---------------------------------------------------------------------------


def outliers(group: GroupInput, scale: Scale, t: Thresholds) -> Opportunity | None:
    priced = [r for r in group.requests if _is_priced_request(r)]
    if len(priced) < 2:
        return None
    costs = sorted(r.cost for r in priced)
    median = costs[(len(costs) - 1) // 2]
    if median <= 0:
        return None
    limit = t.outlier_ratio * median
    found = sorted((r for r in priced if r.cost >= limit and r.cost > median), key=lambda r: (-r.cost, r.trace_id))
    if not found:
        return None
    saving = sum((r.cost - limit for r in found), Decimal(0))
    factor = Decimal(group.totals.requests) / Decimal(len(group.requests)) if group.requests else None
    monthly = scale.monthly(saving, factor)
    if monthly is None or monthly <= 0:
        return None
    return _base(
        group,
        "outliers",
        status="estimate",
        title=f"{len(found)} requests of {group.totals.key or '(none)'} cost over {t.outlier_ratio.normalize()}× the median",
        saving_per_month=monthly,
        potential_per_month=None,
        formula="Σ over requests costing ≥ ratio × median: cost − ratio × median (what a per-request budget "
        "at that level cuts), scaled by period requests / sampled requests",
        evidence={
            "median_request_cost": _money(median),
            "limit": _money(limit),
            "outliers": len(found),
            "requests_sampled": len(group.requests),
            "requests_priced": len(priced),
            "sample_saving": _money(saving),
            "top": [
                {
                    "trace_id": r.trace_id,
                    "cost": _money(r.cost),
                    "input_tokens": r.input_tokens,
                    "cache_read_tokens": r.cache_read_tokens,
                    "cache_write_tokens": r.cache_write_tokens,
                    "output_tokens": r.output_tokens,
                    "llm_calls": r.llm_calls,
                }
                for r in found[: t.outlier_top]
            ],
        },
    )


# --- 7. Response cache -------------------------------------------------------------------------------


def response_cache(group: GroupInput, scale: Scale, t: Thresholds) -> Opportunity | None:
    totals = group.totals
    if not totals.response_cache_hits:
        return None
    hits = [c for c in group.calls if c.response_cache_hit]
    saved = sum((c.list_cost for c in hits if c.list_cost is not None), Decimal(0))
    factor = Decimal(totals.response_cache_hits) / Decimal(len(hits)) if hits else None
    monthly = scale.monthly(saved, factor) if factor is not None else None
    opportunity = _base(
        group,
        "response_cache",
        status="realized",
        title=f"The response cache of {totals.key or '(none)'} answers "
        f"{Decimal(totals.response_cache_hits * 100) / totals.llm_calls:.1f}% of calls",
        saving_per_month=monthly,
        potential_per_month=None,
        formula="Σ list price of the calls answered from the app's cache (costwatch.cache.hit), scaled by "
        "period hits / sampled hits",
        evidence={
            "hits": totals.response_cache_hits,
            "calls": totals.llm_calls,
            "hit_rate": str((Decimal(totals.response_cache_hits) / totals.llm_calls).quantize(Decimal("0.0001"))),
            "sample_saved": _money(saved),
        },
    )
    opportunity.notes.append(
        "Exact-match cache estimate unavailable: Costwatch does not store a prompt hash "
        "attribute yet (costwatch.prompt.hash)"
    )
    return opportunity


# --- All of them -------------------------------------------------------------------------------------


def opportunities_of(
    group: GroupInput,
    *,
    period_days: Decimal,
    options: Sequence[ModelOption],
    thresholds: Thresholds,
    batch_cost: BatchCost,
    kinds: Sequence[str] = KINDS,
) -> list[Opportunity]:
    """Every opportunity of one group (see the module docstring for the formulas)."""
    scale = scale_of(group, period_days)
    found: list[Opportunity | None] = []
    if "model_whatif" in kinds:
        found.append(model_whatif(group, options, scale, thresholds))
    if "prompt_caching" in kinds:
        found.append(prompt_caching(group, scale, thresholds))
    if "output_caps" in kinds:
        found.append(output_caps(group, scale, thresholds))
    if "conversation_context" in kinds:
        found.append(conversation_context(group, scale, thresholds))
    if "batch" in kinds:
        found.append(batch(group, scale, thresholds, batch_cost))
    if "outliers" in kinds:
        found.append(outliers(group, scale, thresholds))
    if "response_cache" in kinds:
        found.append(response_cache(group, scale, thresholds))
    minimum = thresholds.min_monthly_saving
    return [o for o in found if o is not None and (o.saving_per_month is None or o.saving_per_month >= minimum)]


_STATUS_ORDER = {"estimate": 0, "what_if": 1, "realized": 2, "unavailable": 3}


def ranked(opportunities: Sequence[Opportunity]) -> list[Opportunity]:
    """Counted savings first, largest first; then what-ifs by potential; realized and unavailable last."""
    return sorted(
        opportunities,
        key=lambda o: (
            _STATUS_ORDER[o.status],
            -(o.saving_per_month or o.potential_per_month or Decimal(0)),
            o.kind,
            o.key,
        ),
    )
