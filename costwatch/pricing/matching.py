"""Match the model name a span reports to a key of the price catalog.

Precedence, first hit wins:

1. **exact** — the name as reported is a catalog key.
2. **alias** — the project's alias table maps the name to a catalog key (e.g. the Azure
   deployment ``prod-gpt4o`` → ``gpt-4o``). The table is consulted with the name as reported,
   then with each candidate of step 3 (so ``azure/prod-gpt4o`` finds ``prod-gpt4o``). An
   alias whose target is not a catalog key is ignored.
3. **normalized** — each of ``candidate_names(model)`` in order, compared case-insensitively
   with the catalog keys. Candidates go from most to least specific: the lower-cased name,
   its last path segment (provider prefixes such as ``openai/``, ``models/``,
   ``publishers/google/models/``, Vertex resource paths and OpenRouter ``vendor/model``
   dropped), then the name reduced one rule at a time: OpenRouter/Ollama tags (``:free``,
   ``:latest``), Bedrock ids (region and vendor prefix, ``-v2:0``), Vertex ``@version``,
   Claude dotted versions (``claude-3.5-sonnet``), Azure ``gpt-35-*``, ``-latest``,
   ``-preview-MM-DD``, and dated snapshots (``-2024-08-06``, ``-20241022``, ``-08-2024``,
   ``-0613``, ``-001``). Because the dated name comes before the undated one, a snapshot
   with its own price (``gpt-4o-2024-05-13``) beats its base name (``gpt-4o``).
4. **pattern** — the ``(regex, key)`` pairs in the order given; each regex is searched
   (``re.search``, case-insensitive) in the candidates in order.

Nothing matched → ``None``: an unknown model is stored unpriced, never given a guessed price.
Bare ``-preview`` and fine-tune ids (``ft:...``) are deliberately not reduced: they are
priced differently from their base models (``gpt-4-1106-preview`` is GPT-4 Turbo).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast


@dataclass(frozen=True)
class ModelMatch:
    key: str
    how: str  # "exact" | "alias" | "normalized" | "pattern"


_PROVIDER_NAMES: Mapping[str, str] = MappingProxyType(
    {
        # OTel gen_ai.provider.name / gen_ai.system values, LiteLLM and instrumentation spellings.
        "openai": "openai",
        "azure": "openai",
        "azure.ai.openai": "openai",
        "az.ai.openai": "openai",
        "azure_openai": "openai",
        "text-completion-openai": "openai",
        "azure.ai.inference": "azure",
        "az.ai.inference": "azure",
        "azure_ai": "azure",
        "anthropic": "anthropic",
        "aws.bedrock": "amazon",
        "aws": "amazon",
        "amazon": "amazon",
        "bedrock": "amazon",
        "bedrock_converse": "amazon",
        "amazon_bedrock": "amazon",
        "gcp.gemini": "google",
        "gcp.vertex_ai": "google",
        "gcp.gen_ai": "google",
        "google": "google",
        "gemini": "google",
        "vertex_ai": "google",
        "vertexai": "google",
        "google_genai": "google",
        "mistral_ai": "mistral",
        "mistralai": "mistral",
        "mistral": "mistral",
        "codestral": "mistral",
        "x_ai": "xai",
        "xai": "xai",
        "deepseek": "deepseek",
        "cohere": "cohere",
        "cohere_chat": "cohere",
        "groq": "groq",
        "perplexity": "perplexity",
        "ibm.watsonx.ai": "ibm",
        "watsonx": "ibm",
        "together_ai": "together",
        "fireworks_ai": "fireworks",
        "openrouter": "openrouter",
        "ollama": "ollama",
    }
)
_PROVIDER_FAMILIES = (("vertex_ai", "google"), ("bedrock", "amazon"), ("azure_openai", "openai"))


def normalize_provider(name: str | None) -> str | None:
    """The catalog provider for a reported provider/system name.

    Azure OpenAI counts as ``openai`` (same price list); Bedrock is ``amazon`` and Vertex is
    ``google`` whatever model they host — Claude on Bedrock is still matched by its model id.
    Unknown names come back lower-cased with spaces as underscores; empty → ``None``.
    """
    if name is None:
        return None
    key = "_".join(name.strip().lower().split())
    if not key:
        return None
    if key in _PROVIDER_NAMES:
        return _PROVIDER_NAMES[key]
    for prefix, provider in _PROVIDER_FAMILIES:
        if key.startswith(prefix):
            return provider
    return key


_TAG = re.compile(r":(?:free|latest|beta|extended|nitro|floor|online|thinking|exacto)$")
_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov|jp|au|ca)\.)?"
    r"(?:anthropic|amazon|meta|cohere|mistral|ai21|deepseek|writer|openai|qwen|twelvelabs"
    r"|stability|luma|moonshot|minimax|google|nvidia)\.(?P<model>.+)$"
)
_VERTEX_DATED = re.compile(r"^(?P<model>.+?)(?:-v\d+)?@(?P<date>\d{8})$")


def _sub(pattern: str, replacement: str = "") -> Callable[[str], str | None]:
    compiled = re.compile(pattern)

    def rule(name: str) -> str | None:
        reduced = compiled.sub(replacement, name, count=1)
        return reduced if reduced != name and reduced else None

    return rule


def _bedrock(name: str) -> str | None:
    found = _BEDROCK_ID.match(name)
    return found.group("model") if found else None


def _vertex_version(name: str) -> str | None:
    dated = _VERTEX_DATED.match(name)
    if dated:
        return f"{dated.group('model')}-{dated.group('date')}"
    if "@" in name:
        return name.split("@", 1)[0] or None
    return None


def _claude_dots(name: str) -> str | None:
    if not name.startswith("claude"):
        return None
    dashed = re.sub(r"(\d)\.(\d)", r"\1-\2", name)
    return dashed if dashed != name else None


# One reduction step at a time, in this order; see the module docstring.
_RULES: tuple[Callable[[str], str | None], ...] = (
    _sub(_TAG.pattern),
    _bedrock,
    _sub(r":\d+$"),
    _vertex_version,
    _sub(r"-v\d+$"),
    _claude_dots,
    _sub(r"^gpt-35-", "gpt-3.5-"),
    _sub(r"-latest$"),
    _sub(r"-preview-\d{2}-(?:\d{2}|\d{4})$"),
    _sub(r"-\d{4}-\d{2}-\d{2}$"),
    _sub(r"-\d{8}$"),
    _sub(r"-\d{2}-\d{4}$"),
    _sub(r"-\d{4}$"),
    _sub(r"-\d{3}$"),
)


def _reduce_once(name: str) -> str | None:
    for rule in _RULES:
        reduced = rule(name)
        if reduced is not None:
            return reduced
    return None


def candidate_names(model: str) -> list[str]:
    """Normalization candidates for ``model``, most specific first, without duplicates."""
    candidates: list[str] = []

    def add(name: str) -> None:
        if name and name not in candidates:
            candidates.append(name)

    name = model.strip().lower()
    add(name)
    current = name.rsplit("/", 1)[-1]
    add(current)
    while (reduced := _reduce_once(current)) is not None:
        add(reduced)
        current = reduced
    return candidates


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid model pattern {pattern!r}: {exc}") from None


def match_model(
    model: str,
    known: Collection[str],
    *,
    aliases: Mapping[str, str] = MappingProxyType({}),
    patterns: Sequence[tuple[str, str]] = (),
) -> ModelMatch | None:
    """The catalog key for ``model`` and how it was found; see the module docstring."""
    if not model or not model.strip():
        return None
    if model in known:
        return ModelMatch(model, "exact")

    known_folded: dict[str, str] = {}
    for key in known:
        folded = key.lower()
        if folded not in known_folded or key < known_folded[folded]:
            known_folded[folded] = key
    candidates = candidate_names(model)

    if aliases:
        aliases_folded = {name.lower(): key for name, key in aliases.items()}
        targets = [aliases.get(model)] + [aliases_folded.get(name) for name in candidates]
        for target in targets:
            if target is not None and target in known:
                return ModelMatch(target, "alias")

    for name in candidates:
        if name in known_folded:
            return ModelMatch(known_folded[name], "normalized")

    for pattern, key in patterns:
        if key not in known:
            continue
        regex = _compiled(pattern)
        if any(regex.search(name) for name in candidates):
            return ModelMatch(key, "pattern")
    return None


# --- The catalog's own match rules (genai-prices) -------------------------------------------------

# OTel gen_ai.provider.name / gen_ai.system values (and common spellings) → catalog provider ids of
# the genai-prices data, tried before the source's own provider_match clauses.
SOURCE_PROVIDER_IDS: Mapping[str, str] = MappingProxyType(
    {
        "azure.ai.openai": "azure",
        "az.ai.openai": "azure",
        "azure_openai": "azure",
        "azure.ai.inference": "azure",
        "az.ai.inference": "azure",
        "azure_ai": "azure",
        "azure": "azure",
        "aws.bedrock": "aws",
        "bedrock": "aws",
        "bedrock_converse": "aws",
        "amazon_bedrock": "aws",
        "gcp.vertex_ai": "google",
        "gcp.gemini": "google",
        "gcp.gen_ai": "google",
        "vertex_ai": "google",
        "gemini": "google",
        "google_genai": "google",
        "x_ai": "x-ai",
        "xai": "x-ai",
        "mistral_ai": "mistral",
        "mistralai": "mistral",
        "together_ai": "together",
        "fireworks_ai": "fireworks",
        "text-completion-openai": "openai",
    }
)


def clause_matches(clause: Mapping[str, object] | None, text: str) -> bool:
    """Whether a match clause in the genai-prices format matches ``text``.

    Clauses: ``{"equals": s}``, ``{"starts_with": s}``, ``{"ends_with": s}``, ``{"contains": s}``
    (all case-insensitive), ``{"regex": r}`` (``re.search``, case as written), ``{"or": [...]}``,
    ``{"and": [...]}``. ``None`` matches nothing. An unknown clause raises ``ValueError``.
    """
    if clause is None:
        return False
    ((kind, value),) = clause.items()
    if kind in ("or", "and"):
        parts = cast("Iterable[Mapping[str, object] | None]", value)  # a JSON list of clauses
        if kind == "or":
            return any(clause_matches(part, text) for part in parts)
        return all(clause_matches(part, text) for part in parts)
    folded = text.lower()
    if kind == "equals":
        return folded == str(value).lower()
    if kind == "starts_with":
        return folded.startswith(str(value).lower())
    if kind == "ends_with":
        return folded.endswith(str(value).lower())
    if kind == "contains":
        return str(value).lower() in folded
    if kind == "regex":
        return _compiled_exact(str(value)).search(text) is not None
    raise ValueError(f"unknown match clause {kind!r}")


@functools.lru_cache(maxsize=4096)
def _compiled_exact(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True)
class CatalogProviderRules:
    id: str
    provider_match: Mapping[str, object] | None = None
    model_match: Mapping[str, object] | None = None
    fallback_providers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogMatch:
    provider: str
    key: str
    how: str  # "exact" | "alias" | "rule" | "normalized" | "pattern"


class CatalogMatcher:
    """Finds the catalog model of a reported (provider, model) with the source's match rules.

    ``providers``: the catalog's providers in the source's order. ``models``: per provider id,
    its ``(model id, match clause)`` pairs in the source's order. Precedence, first hit wins
    (each step tries the providers in ``provider_order``):

    1. **exact** — the name as reported is a model id;
    2. **alias** — the project's alias names a model id (the name as reported, then each of
       ``candidate_names``);
    3. **rule** — a model's match clause matches the name, then each candidate (so the clause of
       ``ft:gpt-4o-mini`` catches ``ft:gpt-4o-mini-2024-07-18:org::id``, and the Bedrock profile
       ``global.anthropic.claude-sonnet-4-5-20250929-v1:0`` its own row);
    4. **normalized** — a candidate equals a model id, case-insensitively;
    5. **pattern** — the ``(regex, model id)`` pairs in order.

    Provider order: the reported provider (``SOURCE_PROVIDER_IDS``, then its id, then the
    providers' ``provider_match``) followed by its fallback providers (Azure → OpenAI, ...), then
    the providers whose ``model_match`` matches the name (``claude`` → Anthropic) with theirs.
    A name no provider of that order knows is still found when exactly one provider of the whole
    catalog has it as its model id (exact or normalized); an id that several providers price
    differently stays unmatched rather than guessed.
    """

    def __init__(
        self,
        providers: Sequence[CatalogProviderRules],
        models: Mapping[str, Sequence[tuple[str, Mapping[str, object] | None]]],
        *,
        patterns: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._providers = {p.id: p for p in providers}
        self._order = [p.id for p in providers]
        self._models = {pid: list(entries) for pid, entries in models.items()}
        self._ids = {pid: {model for model, _ in entries} for pid, entries in self._models.items()}
        self._folded: dict[str, dict[str, str]] = {
            pid: {model.lower(): model for model in sorted(ids, reverse=True)} for pid, ids in self._ids.items()
        }
        owners: dict[str, set[str]] = {}
        for pid, ids in self._ids.items():
            for model in ids:
                owners.setdefault(model.lower(), set()).add(pid)
        self._unique_owner = {name: next(iter(pids)) for name, pids in owners.items() if len(pids) == 1}
        self._patterns = list(patterns)

    def provider_of(self, reported: str | None) -> str | None:
        """The catalog provider id of a reported provider name, or None."""
        if not reported or not reported.strip():
            return None
        key = "_".join(reported.strip().lower().split())
        if SOURCE_PROVIDER_IDS.get(key) in self._providers:
            return SOURCE_PROVIDER_IDS[key]
        if key in self._providers:
            return key
        dashed = key.replace("_", "-")
        if dashed in self._providers:
            return dashed
        for pid in self._order:
            if clause_matches(self._providers[pid].provider_match, key):
                return pid
        return None

    def provider_order(self, reported: str | None, model: str) -> list[str]:
        order: list[str] = []

        def add(pid: str) -> None:
            if pid in self._providers and pid not in order:
                order.append(pid)
                for fallback in self._providers[pid].fallback_providers:
                    if fallback in self._providers and fallback not in order:
                        order.append(fallback)

        first = self.provider_of(reported)
        if first:
            add(first)
        name = model.strip().lower()
        for pid in self._order:
            if clause_matches(self._providers[pid].model_match, name):
                add(pid)
        return order

    def match(
        self,
        model: str,
        *,
        provider: str | None = None,
        aliases: Mapping[str, str] = MappingProxyType({}),
    ) -> CatalogMatch | None:
        """The catalog model for ``model`` as reported by ``provider``; see the class docstring."""
        if not model or not model.strip():
            return None
        order = self.provider_order(provider, model)
        candidates = candidate_names(model)
        for pid in order:
            if model in self._ids.get(pid, ()):
                return CatalogMatch(pid, model, "exact")
        if aliases:
            folded = {name.lower(): key for name, key in aliases.items()}
            for target in [aliases.get(model)] + [folded.get(name) for name in candidates]:
                if target is None:
                    continue
                found = self._find_id(target, order)
                if found is not None:
                    return CatalogMatch(found, target, "alias")
        names = [model.strip().lower(), *candidates]
        for pid in order:
            for name in dict.fromkeys(names):
                for key, clause in self._models.get(pid, ()):
                    if clause_matches(clause, name):
                        return CatalogMatch(pid, key, "rule")
        for name in candidates:
            for pid in order:
                if name in self._folded.get(pid, {}):
                    return CatalogMatch(pid, self._folded[pid][name], "normalized")
        for name in candidates:
            owner = self._unique_owner.get(name)
            if owner is not None:
                key = self._folded[owner][name]
                return CatalogMatch(owner, key, "exact" if key == model else "normalized")
        for pattern, key in self._patterns:
            found = self._find_id(key, order)
            if found is None:
                continue
            regex = _compiled(pattern)
            if any(regex.search(name) for name in candidates):
                return CatalogMatch(found, key, "pattern")
        return None

    def _find_id(self, key: str, order: Sequence[str]) -> str | None:
        for pid in [*order, *self.provider_order(None, key)]:
            if key in self._ids.get(pid, ()):
                return pid
        owner = self._unique_owner.get(key.lower())
        return owner if owner is not None and key in self._ids[owner] else None
