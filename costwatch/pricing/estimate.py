"""Pre-flight cost estimate: one prompt's tokens and cost on each model asked, with the project's prices.

``estimate_cost`` validates the request (``EstimateError`` says what is wrong), counts the prompt
(costwatch.pricing.tokenizer), prices it through a ``PriceBook`` and checks the context window;
``compare`` adds the cheapest catalog models that fit (``CompareFilters``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from costwatch.pricing.cost import CallCost, PriceRow, TokenCounts, cost_of, price_in_force
from costwatch.pricing.pricebook import PriceBook, PricedModel, global_catalog
from costwatch.pricing.store import MAX_TOKENS

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


MAX_COMPARED = 200
MODALITIES = ("text", "audio", "image", "video")


@dataclass(frozen=True)
class CompareFilters:
    """Which catalog models an estimate compares: all that fit the prompt, narrowed by these."""

    providers: tuple[str, ...] = ()
    min_context_window: int | None = None
    modality: str = "text"
    include_free: bool = False
    limit: int = 50


def compare_filters(data: Any) -> CompareFilters:
    """``CompareFilters`` from the estimate request's ``compare`` object; ``EstimateError`` if invalid."""
    if data is True:
        return CompareFilters()
    if not isinstance(data, Mapping):
        raise EstimateError("compare must be true or an object {providers, min_context_window, modality, limit}")
    unknown = set(data) - {"providers", "min_context_window", "modality", "include_free", "limit"}
    if unknown:
        raise EstimateError(f"unknown compare field(s) {', '.join(sorted(unknown))}")
    providers = data.get("providers", [])
    if isinstance(providers, str):
        providers = [providers]
    if not isinstance(providers, list) or not all(isinstance(p, str) and p.strip() for p in providers):
        raise EstimateError('compare.providers must be a list of provider ids (e.g. ["openai", "anthropic"])')
    window = data.get("min_context_window")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or not 0 < window <= MAX_TOKENS):
        raise EstimateError("compare.min_context_window must be a positive whole number of tokens")
    modality = data.get("modality", "text")
    if modality not in MODALITIES:
        raise EstimateError(f"compare.modality must be one of {', '.join(MODALITIES)}")
    include_free = data.get("include_free", False)
    if not isinstance(include_free, bool):
        raise EstimateError("compare.include_free must be true or false")
    limit = data.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_COMPARED:
        raise EstimateError(f"compare.limit must be between 1 and {MAX_COMPARED}")
    return CompareFilters(tuple(p.strip() for p in providers), window, modality, include_free, limit)


def _compared_models(
    filters: CompareFilters, at: datetime, prompt_and_output: int
) -> tuple[list[tuple[str, str]], int]:
    """(provider, model) of every catalog model that fits the filters and the prompt; and how many."""
    wanted = set(filters.providers)
    chosen = []
    for (provider, model), versions in global_catalog().rows.items():
        if wanted and provider not in wanted:
            continue
        row = price_in_force([row for _, row in versions], at)
        if row is None or row.context_window is None or row.context_window < prompt_and_output:
            continue
        if filters.min_context_window is not None and row.context_window < filters.min_context_window:
            continue
        if filters.modality != "text" and getattr(row, f"input_{filters.modality}") is None:
            continue
        if not filters.include_free and row.input == 0 and row.output == 0:
            continue
        chosen.append((provider, model))
    return sorted(chosen), len(chosen)


def _cheapest_first(estimate: ModelEstimate) -> tuple[int, Decimal, str]:
    return (0, estimate.cost.total, estimate.model) if estimate.cost is not None else (1, Decimal(0), "")


def estimate_cost(
    project,  # noqa: ANN001 - Project
    *,
    models: Any = None,
    output_tokens: Any = 0,
    messages: Any = None,
    text: Any = None,
    at: datetime | None = None,
    compare: Any = None,
) -> list[ModelEstimate]:
    """Tokens, cost and context-window check of one prompt per model, cheapest first, with the project's prices.

    The prompt is ``messages`` (chat, counted with the chat framing) or ``text``. Token counts
    are exact for OpenAI models and ``approximate`` otherwise (see tokenizer.py). A model with no
    price comes back with ``priced`` and ``cost`` None: unpriced, never $0, listed after the
    priced ones (which are ordered by total cost, USD, ascending). ``compare`` (``True`` or a
    ``CompareFilters``-shaped object) adds every catalog model whose standard price is in force,
    whose context window is known and holds prompt plus output, and that passes the filters
    (providers, min_context_window, modality: has a price for that input modality; free models
    only with include_free); the cheapest ``limit`` of them are returned beside ``models``.
    """
    from costwatch.pricing.tokenizer import count_messages, count_text, encoding_name_for

    if (messages is None) == (text is None):
        raise EstimateError("send either messages (a chat) or text, not both and not neither")
    if messages is not None:
        messages = _check_messages(messages)
    elif not isinstance(text, str):
        raise EstimateError("text must be a string")
    filters = compare_filters(compare) if compare not in (None, False) else None
    names = _check_models(models) if (models is not None or filters is None) else []
    if isinstance(output_tokens, bool) or not isinstance(output_tokens, int):
        raise EstimateError("output_tokens must be a whole number")
    if not 0 <= output_tokens <= MAX_OUTPUT_TOKENS:
        raise EstimateError(f"output_tokens must be between 0 and {MAX_OUTPUT_TOKENS}")
    at = at or timezone.now()
    book = PriceBook(project)
    counts: dict[str, Any] = {}

    def counted_for(model: str):  # noqa: ANN202 - one count per encoding, not per model
        encoding, _ = encoding_name_for(model)
        if encoding not in counts:
            counts[encoding] = count_messages(model, messages) if messages is not None else count_text(model, text)
        found = counts[encoding]
        return replace(found, approximate=encoding_name_for(model)[1])

    def estimate(model: str, provider: str | None = None) -> ModelEstimate:
        counted = counted_for(model)
        priced = book.price_for(model, at, provider=provider)
        row = priced.row if priced else None
        cost = cost_of(TokenCounts(input=counted.tokens, output=output_tokens), row) if row else None
        return ModelEstimate(
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
        )

    estimates = [estimate(model) for model in names]
    if filters is not None:
        prompt = counted_for("gpt-4o").tokens
        compared, _ = _compared_models(filters, at, prompt + output_tokens)
        listed = {(e.priced.price.provider, e.priced.price.model) for e in estimates if e.priced}
        extra = [estimate(model, provider) for provider, model in compared if (provider, model) not in listed]
        extra = [e for e in extra if e.cost is not None and not e.problems]
        estimates += sorted(extra, key=_cheapest_first)[: filters.limit]
    return sorted(estimates, key=_cheapest_first)
