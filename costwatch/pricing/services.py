"""Storing the price catalog, looking up the price in force for a call, and estimating costs.

Catalog writes: ``sync_catalog`` (the shipped catalog, keyed by its own effective dates),
``import_litellm_file`` / ``set_price`` (a new dated version only when the price in force
changes), ``set_alias`` / ``remove_alias``. Reads: ``PriceBook`` and ``estimate_cost``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import BigIntegerField, CharField, DecimalField
from django.utils import timezone

from costwatch.pricing.cost import CallCost, PriceRow, TokenCounts, cost_of
from costwatch.pricing.models import ModelAlias, ModelPrice, PriceOrigin

_ROW_FIELDS = [f.name for f in fields(PriceRow)]
MAX_TOKENS = 10**12  # token limits and thresholds beyond this are typos, not models


@dataclass(frozen=True)
class CatalogSync:
    added: list[str]
    changed: list[str]
    unchanged: int


def row_of(price: ModelPrice) -> PriceRow:
    return PriceRow(**{name: getattr(price, name) for name in _ROW_FIELDS})


@transaction.atomic
def sync_catalog(rows: Iterable[PriceRow], *, origin: str, project=None) -> CatalogSync:  # noqa: ANN001
    """Insert or update catalog rows keyed by (project, provider, model, effective_from). Idempotent."""
    added: list[str] = []
    changed: list[str] = []
    unchanged = 0
    for row in rows:
        values = asdict(row)
        key = {k: values.pop(k) for k in ("provider", "model", "effective_from")}
        label = f"{key['provider']}/{key['model']} from {key['effective_from']}"
        existing = ModelPrice.objects.select_for_update().filter(project=project, **key).first()
        if existing is None:
            ModelPrice.objects.create(project=project, origin=PriceOrigin(origin), **key, **values)
            added.append(label)
        elif any(getattr(existing, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(existing, k, v)
            existing.origin = PriceOrigin(origin)
            existing.save()
            changed.append(label)
        else:
            unchanged += 1
    return CatalogSync(added, changed, unchanged)


@dataclass(frozen=True)
class PricedModel:
    price: ModelPrice
    row: PriceRow
    how: str  # how the model name matched: exact | alias | normalized | pattern


class PriceBook:
    """A project's view of the catalog (its overrides and aliases first), loaded once per use.

    Matching follows costwatch.pricing.matching: exact, alias, normalized, pattern. A project
    override for a model beats the global row for the same key.
    """

    def __init__(self, project) -> None:  # noqa: ANN001 - Project
        from costwatch.pricing.catalog import catalog_patterns
        from costwatch.pricing.models import ModelAlias

        self._rows: dict[str, list[ModelPrice]] = {}
        self._overrides: dict[str, list[ModelPrice]] = {}
        for price in ModelPrice.objects.filter(project__isnull=True).order_by("effective_from"):
            self._rows.setdefault(price.model, []).append(price)
        for price in ModelPrice.objects.filter(project=project).order_by("effective_from"):
            self._overrides.setdefault(price.model, []).append(price)
        self._aliases = dict(ModelAlias.objects.filter(project=project).values_list("alias", "model"))
        self._patterns = catalog_patterns()
        self._known = set(self._rows) | set(self._overrides)
        self._matches: dict[str, object] = {}
        self._row_cache: dict[int, PriceRow] = {}

    def price_for_call(self, model: str | None, request_model: str | None, at) -> PricedModel | None:  # noqa: ANN001
        """The price of a stored call: by its response model, else by the model it asked for."""
        return self.price_for(model, at) or (self.price_for(request_model, at) if request_model != model else None)

    def price_for(self, model: str | None, at) -> PricedModel | None:  # noqa: ANN001 - datetime
        """The price row in force at ``at`` for this model name, or None (unpriced)."""
        from costwatch.pricing.matching import match_model

        if not model:
            return None
        if model not in self._matches:
            self._matches[model] = match_model(model, self._known, aliases=self._aliases, patterns=self._patterns)
        match = self._matches[model]
        if match is None:
            return None
        day = at.date() if hasattr(at, "date") else at
        for candidates in (self._overrides.get(match.key, []), self._rows.get(match.key, [])):
            for price in reversed(candidates):  # latest effective_from first
                if price.effective_from <= day and (price.effective_until is None or day < price.effective_until):
                    if price.pk not in self._row_cache:
                        self._row_cache[price.pk] = row_of(price)
                    return PricedModel(price, self._row_cache[price.pk], match.how)
        return None


# --- Dated versions: importprices and project overrides ---------------------------------------

# What makes two rows "the same price". Limits (context window, max output) and provenance are
# not part of it: a refresh that only restates a context window must not add a price version.
PRICE_FIELDS = (
    "input", "output", "cache_read", "cache_write", "cache_write_1h", "long_context_threshold",
    "long_input", "long_output", "long_cache_read", "long_cache_write", "batch_discount", "currency",
)


@dataclass(frozen=True)
class PriceChange:
    status: str  # added | changed | unchanged
    label: str
    price: ModelPrice


def _label(row: PriceRow | ModelPrice) -> str:
    return f"{row.provider}/{row.model} from {row.effective_from}"


def _as_stored(name: str, value: object) -> object:
    """The value as the column keeps it: a price with more decimals than the column is rounded
    the way PostgreSQL rounds NUMERIC (half away from zero), so comparing stays idempotent."""
    field = ModelPrice._meta.get_field(name)
    if isinstance(value, Decimal) and getattr(field, "decimal_places", None) is not None:
        return value.quantize(Decimal(1).scaleb(-field.decimal_places), rounding=ROUND_HALF_UP)
    return value


def column_problem(row: PriceRow, *, exact: bool = False) -> str | None:
    """Why ``row`` cannot be stored as it is (too many digits, too long a name), or None.

    With ``exact`` a price with more decimals than the column keeps is a problem too (input
    from people); without, it is rounded as PostgreSQL would (imported files).
    """
    for field in ModelPrice._meta.concrete_fields:
        value = getattr(row, field.name, None) if field.name in _ROW_FIELDS else None
        if value is None:
            continue
        if isinstance(field, DecimalField):
            digits = field.max_digits - field.decimal_places
            if value >= Decimal(10) ** digits or _as_stored(field.name, value) >= Decimal(10) ** digits:
                return f"{field.name} {_plain(value)} is too large (at most {digits} digits before the point)"
            if exact and _as_stored(field.name, value) != value:
                return f"{field.name} {_plain(value)} has more than {field.decimal_places} decimal places"
        elif isinstance(field, CharField) and len(value) > field.max_length:
            return f"{field.name} is longer than {field.max_length} characters"
        elif isinstance(field, BigIntegerField) and value > MAX_TOKENS:
            return f"{field.name} {value} is too large"
    return None


def _differences(old: ModelPrice, new: PriceRow, names: Iterable[str]) -> list[str]:
    return [
        f"{name} {_plain(getattr(old, name))} → {_plain(getattr(new, name))}"
        for name in names
        if getattr(old, name) != _as_stored(name, getattr(new, name))
    ]


def _plain(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return "none" if value is None else str(value)


def _in_force(versions: Sequence[ModelPrice], day: date) -> ModelPrice | None:
    """Latest effective_from wins, as in PriceBook.price_for and cost.price_in_force."""
    chosen = None
    for price in versions:
        if price.effective_from <= day and (price.effective_until is None or day < price.effective_until):
            if chosen is None or price.effective_from >= chosen.effective_from:
                chosen = price
    return chosen


_TIER_FIELDS = ("long_context_threshold", "long_input", "long_output", "long_cache_read", "long_cache_write")
_INHERITED_FIELDS = (
    "cache_read", "cache_write", "cache_write_1h", "batch_discount", "context_window", "max_output_tokens",
    "source_url", "checked_on",
)


def _filled_from(row: PriceRow, base: ModelPrice) -> PriceRow:
    """``row`` with what it does not state taken from ``base`` (a long-context tier as a whole)."""
    missing = {
        name: getattr(base, name)
        for name in _INHERITED_FIELDS
        if getattr(row, name) in (None, "") and getattr(base, name) not in (None, "")
    }
    if row.long_context_threshold is None and base.long_context_threshold is not None:
        missing.update({name: getattr(base, name) for name in _TIER_FIELDS})
    return replace(row, **missing) if missing else row


def _set_version(
    row: PriceRow, versions: list[ModelPrice], *, origin: str, project, inherit: bool = False  # noqa: ANN001
) -> PriceChange:
    problem = column_problem(row)
    if problem:
        raise ValueError(f"{_label(row)}: {problem}")
    same_day = next((p for p in versions if p.effective_from == row.effective_from), None)
    current = same_day or _in_force(versions, row.effective_from)
    if inherit and current is not None:
        row = _filled_from(row, current)
    values = {name: _as_stored(name, value) for name, value in asdict(row).items()}
    if same_day is not None:
        changes = _differences(same_day, row, [n for n in values if n not in ("provider", "model")])
        if not changes:
            return PriceChange("unchanged", _label(row), same_day)
        for name, value in values.items():
            setattr(same_day, name, value)
        same_day.origin = PriceOrigin(origin)
        same_day.save()
        return PriceChange("changed", f"{_label(row)}: {', '.join(changes)}", same_day)
    if current is not None and not _differences(current, row, PRICE_FIELDS):
        return PriceChange("unchanged", _label(current), current)
    price = ModelPrice.objects.create(project=project, origin=PriceOrigin(origin), **values)
    versions.append(price)
    if current is None:
        return PriceChange("added", _label(row), price)
    return PriceChange("changed", f"{_label(row)}: {', '.join(_differences(current, row, PRICE_FIELDS))}", price)


@transaction.atomic
def set_price(row: PriceRow, *, origin: str = PriceOrigin.MANUAL, project=None) -> PriceChange:  # noqa: ANN001
    """Make ``row`` the price of its model from ``row.effective_from`` on. Idempotent.

    A row already starting that day is updated in place. Otherwise a new version is added only
    when its prices differ from the version in force that day (the latest start wins), so
    importing the same prices again — on any later day — adds nothing. Earlier versions are
    never rewritten: the calls they priced stay explainable.
    """
    versions = list(
        ModelPrice.objects.select_for_update().filter(project=project, provider=row.provider, model=row.model)
    )
    return _set_version(row, versions, origin=origin, project=project)


class PriceFileError(ValueError):
    """The price file cannot be read at all (missing, not JSON, wrong shape)."""


@dataclass(frozen=True)
class PriceImport:
    added: list[str]
    changed: list[str]
    unchanged: int
    skipped: list[tuple[str, str]]  # (entry name, reason)


def read_price_file(path: str | Path) -> Mapping[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            # parse_float=Decimal: LiteLLM writes prices per token as JSON numbers (2.5e-06).
            data = json.load(handle, parse_float=Decimal)
    except FileNotFoundError:
        raise PriceFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PriceFileError(f"{path}: is a directory, not a price file") from None
    except UnicodeDecodeError as exc:
        raise PriceFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise PriceFileError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, Mapping):
        raise PriceFileError(
            f"{path}: a LiteLLM price file is a JSON object keyed by model name, got {type(data).__name__}"
        )
    return data


@transaction.atomic
def import_litellm(
    data: Mapping[str, Any], *, effective_from: date, source_url: str = "", checked_on: date | None = None
) -> PriceImport:
    """Import a LiteLLM ``model_prices_and_context_window.json`` into the global catalog.

    One bad entry is skipped with its reason; the rest are imported. See ``set_price`` for why
    running it again (the same day or later) changes nothing. What an entry does not state (no
    cache or batch price, no long-context tier, no limits) is kept from the version in force:
    LiteLLM leaving a field out means it does not say, not that the price is gone.
    """
    from costwatch.pricing.litellm import parse_litellm

    parsed = parse_litellm(data, effective_from=effective_from, checked_on=checked_on, source_url=source_url)
    if not parsed.rows:
        # Nothing usable at all: almost certainly not a LiteLLM file (e.g. our own catalog format).
        first = "; ".join(f"{name}: {reason}" for name, reason in parsed.skipped[:3])
        raise PriceFileError("no entry could be read as a LiteLLM per-token price" + (f" ({first})" if first else ""))
    versions: dict[tuple[str, str], list[ModelPrice]] = {}
    for price in ModelPrice.objects.select_for_update().filter(project__isnull=True):
        versions.setdefault((price.provider, price.model), []).append(price)
    added: list[str] = []
    changed: list[str] = []
    unchanged = 0
    skipped = list(parsed.skipped)
    for row in parsed.rows:
        problem = column_problem(row)
        if problem:
            skipped.append((f"{row.provider}/{row.model}", problem))
            continue
        change = _set_version(
            row, versions.setdefault((row.provider, row.model), []), origin=PriceOrigin.LITELLM, project=None,
            inherit=True,
        )
        if change.status == "added":
            added.append(change.label)
        elif change.status == "changed":
            changed.append(change.label)
        else:
            unchanged += 1
    return PriceImport(added, changed, unchanged, skipped)


def import_litellm_file(path: str | Path, *, effective_from: date, source_url: str = "") -> PriceImport:
    return import_litellm(read_price_file(path), effective_from=effective_from, source_url=source_url)


def load_default_catalog_if_empty() -> CatalogSync | None:
    """Load the shipped catalog into a database that has no global prices yet (fresh install)."""
    from costwatch.pricing.catalog import load_default_catalog

    if ModelPrice.objects.filter(project__isnull=True).exists():
        return None
    return sync_catalog(load_default_catalog(), origin=PriceOrigin.DEFAULT)


# --- Validating prices and aliases sent by people (API) -----------------------------------------

class PriceInputError(ValueError):
    """A price or alias sent by a person is invalid; the message says which field and why."""


_MONEY_INPUT = (
    "input", "output", "cache_read", "cache_write", "cache_write_1h",
    "long_input", "long_output", "long_cache_read", "long_cache_write", "batch_discount",
)
_INT_INPUT = ("long_context_threshold", "context_window", "max_output_tokens")
_DATE_INPUT = ("effective_from", "effective_until", "checked_on")
_TEXT_INPUT = {"provider": 64, "model": 200, "currency": 3, "source_url": 500}
PRICE_INPUT_FIELDS = frozenset(f.name for f in fields(PriceRow))


def price_row_from_input(data: Any) -> PriceRow:
    """A ``PriceRow`` from a JSON object, or ``PriceInputError`` naming the bad field.

    Prices are decimal strings (``"2.5"``) or integers; JSON floats are refused because they
    are not exact. Dates are ``YYYY-MM-DD``. Omitting ``effective_from`` means "since ever".
    """
    if not isinstance(data, Mapping):
        raise PriceInputError("send a JSON object")
    unknown = set(data) - PRICE_INPUT_FIELDS
    if unknown:
        raise PriceInputError(
            f"unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(PRICE_INPUT_FIELDS))}"
        )
    for name in ("provider", "model", "input", "output"):
        if data.get(name) in (None, ""):
            raise PriceInputError(f"{name} is required")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if value is None:
            continue
        if name in _TEXT_INPUT:
            if not isinstance(value, str) or not value.strip():
                raise PriceInputError(f"{name} must be a non-empty string")
            value = value.strip()
            if len(value) > _TEXT_INPUT[name]:
                raise PriceInputError(f"{name} is longer than {_TEXT_INPUT[name]} characters")
        elif name in _MONEY_INPUT:
            if isinstance(value, float):
                raise PriceInputError(f'{name}: send prices as decimal strings such as "2.5" (floats are not exact)')
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise PriceInputError(f"{name} must be a decimal string such as \"2.5\"")
        elif name in _INT_INPUT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise PriceInputError(f"{name} must be a whole number of tokens")
            if value > MAX_TOKENS:
                raise PriceInputError(f"{name} must be at most {MAX_TOKENS} tokens")
        elif name in _DATE_INPUT:
            try:
                value = date.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                value = None
            if value is None:
                raise PriceInputError(f"{name} must be a date YYYY-MM-DD")
        values[name] = value
    if "currency" in values:
        if len(values["currency"]) != 3 or not values["currency"].isalpha():
            raise PriceInputError("currency must be a three-letter code such as USD")
        values["currency"] = values["currency"].upper()
    values["model"] = values["model"].lower()
    try:
        row = PriceRow(**values)
    except (TypeError, ValueError) as exc:
        raise PriceInputError(str(exc)) from None
    problem = column_problem(row, exact=True)
    if problem:
        raise PriceInputError(problem)
    return row


@transaction.atomic
def set_alias(project, alias: str, model: str) -> tuple[ModelAlias, bool]:  # noqa: ANN001 - Project
    """Map the project's own model name to a catalog key. Returns (alias, created)."""
    from costwatch.pricing.catalog import catalog_patterns
    from costwatch.pricing.matching import match_model

    alias = (alias or "").strip() if isinstance(alias, str) else ""
    model = (model or "").strip() if isinstance(model, str) else ""
    if not alias or not model:
        raise PriceInputError("alias and model are both required (non-empty strings)")
    if len(alias) > 200 or len(model) > 200:
        raise PriceInputError("alias and model are at most 200 characters")
    known = set(ModelPrice.objects.filter(project__isnull=True).values_list("model", flat=True))
    known |= set(ModelPrice.objects.filter(project=project).values_list("model", flat=True))
    if model not in known:
        guess = match_model(model, known, patterns=catalog_patterns())
        hint = f"; did you mean {guess.key!r}?" if guess else "; add a price for it first (POST /api/v1/prices)"
        raise PriceInputError(f"{model!r} is not a catalog model{hint}")
    if alias == model:
        raise PriceInputError("an alias must differ from the model it stands for")
    return ModelAlias.objects.update_or_create(project=project, alias=alias, defaults={"model": model})


def remove_alias(project, alias: str) -> bool:  # noqa: ANN001 - Project
    deleted, _ = ModelAlias.objects.filter(project=project, alias=alias).delete()
    return deleted > 0


# --- Pre-flight estimate ------------------------------------------------------------------------

MAX_ESTIMATE_MODELS = 20
MAX_OUTPUT_TOKENS = 10_000_000


class EstimateError(ValueError):
    """The estimate request is invalid; the message says why."""


@dataclass(frozen=True)
class ModelEstimate:
    model: str
    input_tokens: int
    output_tokens: int
    encoding: str
    approximate: bool
    priced: PricedModel | None
    cost: CallCost | None
    context_window: int | None
    max_output_tokens: int | None
    problems: list[str]

    @property
    def fits(self) -> bool | None:
        """Whether prompt and expected output fit the model; None when its limits are unknown."""
        if self.problems:
            return False
        return None if self.context_window is None else True


def _check_messages(messages: Any) -> list[Mapping[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise EstimateError("messages must be a non-empty list of {role, content} objects")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise EstimateError(f"messages[{index}] must be an object with a string role")
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise EstimateError(f"messages[{index}].content must be a string or a list of parts")
    return messages


def _check_models(models: Any) -> list[str]:
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not models:
        raise EstimateError("models must be a non-empty list of model names")
    if len(models) > MAX_ESTIMATE_MODELS:
        raise EstimateError(f"at most {MAX_ESTIMATE_MODELS} models per estimate")
    names: list[str] = []
    for model in models:
        if not isinstance(model, str) or not model.strip() or len(model) > 200:
            raise EstimateError("every model must be a non-empty name of at most 200 characters")
        if model.strip() not in names:
            names.append(model.strip())
    return names


def _limits_problems(model: str, prompt: int, output: int, row: PriceRow | None) -> list[str]:
    if row is None:
        return []
    problems = []
    if row.context_window is not None:
        if prompt > row.context_window:
            problems.append(
                f"the prompt ({prompt} tokens) is longer than {model}'s context window ({row.context_window} tokens)"
            )
        elif prompt + output > row.context_window:
            problems.append(
                f"the prompt ({prompt} tokens) plus the expected output ({output} tokens) exceed "
                f"{model}'s context window ({row.context_window} tokens)"
            )
    if row.max_output_tokens is not None and output > row.max_output_tokens:
        problems.append(
            f"the expected output ({output} tokens) exceeds {model}'s maximum output ({row.max_output_tokens} tokens)"
        )
    return problems


def estimate_cost(
    project,  # noqa: ANN001 - Project
    *,
    models: Any,
    output_tokens: Any = 0,
    messages: Any = None,
    text: Any = None,
    at: datetime | None = None,
) -> list[ModelEstimate]:
    """Tokens, cost and context-window check of one prompt for each model, with the project's prices.

    The prompt is ``messages`` (chat, counted with the chat framing) or ``text``. Token counts
    are exact for OpenAI models and ``approximate`` otherwise (see tokenizer.py). A model with no
    price comes back with ``priced`` and ``cost`` None: unpriced, never $0.
    """
    from costwatch.pricing.tokenizer import count_messages, count_text

    if (messages is None) == (text is None):
        raise EstimateError("send either messages (a chat) or text, not both and not neither")
    if messages is not None:
        messages = _check_messages(messages)
    elif not isinstance(text, str):
        raise EstimateError("text must be a string")
    names = _check_models(models)
    if isinstance(output_tokens, bool) or not isinstance(output_tokens, int):
        raise EstimateError("output_tokens must be a whole number")
    if not 0 <= output_tokens <= MAX_OUTPUT_TOKENS:
        raise EstimateError(f"output_tokens must be between 0 and {MAX_OUTPUT_TOKENS}")
    at = at or timezone.now()
    book = PriceBook(project)
    estimates = []
    for model in names:
        counted = count_messages(model, messages) if messages is not None else count_text(model, text)
        priced = book.price_for(model, at)
        row = priced.row if priced else None
        cost = cost_of(TokenCounts(input=counted.tokens, output=output_tokens), row) if row else None
        estimates.append(ModelEstimate(
            model=model,
            input_tokens=counted.tokens,
            output_tokens=output_tokens,
            encoding=counted.encoding,
            approximate=counted.approximate,
            priced=priced,
            cost=cost,
            context_window=row.context_window if row else None,
            max_output_tokens=row.max_output_tokens if row else None,
            problems=_limits_problems(model, counted.tokens, output_tokens, row),
        ))
    return estimates
