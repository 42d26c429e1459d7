from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costwatch.pricing.matching import (
    CatalogMatch,
    CatalogMatcher,
    CatalogProviderRules,
    ModelMatch,
    candidate_names,
    clause_matches,
    match_model,
    normalize_provider,
)

KNOWN = frozenset(
    {
        "gpt-4o",
        "gpt-4o-2024-05-13",
        "gpt-4o-mini",
        "gpt-4",
        "gpt-4-turbo",
        "gpt-3.5-turbo",
        "claude-3-5-sonnet",
        "claude-3-5-haiku",
        "claude-sonnet-4",
        "claude-sonnet-4-5",
        "claude-opus-4-1",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-1.5-flash",
        "gemini-1.5-pro",
        "nova-pro",
        "llama3-70b-instruct",
        "command-r-plus",
        "mistral-large",
        "llama-3.1-8b-instruct",
        "o3-mini",
    }
)


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("azure.ai.openai", "openai"),
        ("az.ai.openai", "openai"),
        ("azure", "openai"),
        ("anthropic", "anthropic"),
        ("aws.bedrock", "amazon"),
        ("bedrock", "amazon"),
        ("bedrock_converse", "amazon"),
        ("gcp.gemini", "google"),
        ("gcp.vertex_ai", "google"),
        ("vertex_ai", "google"),
        ("vertex_ai-anthropic_models", "google"),
        ("gemini", "google"),
        ("google", "google"),
        ("mistral_ai", "mistral"),
        ("mistral", "mistral"),
        ("Mistral AI", "mistral"),
        ("x_ai", "xai"),
        ("xai", "xai"),
        ("deepseek", "deepseek"),
        ("cohere", "cohere"),
        ("groq", "groq"),
        ("  Some New Vendor ", "some_new_vendor"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_provider(reported: str | None, expected: str | None) -> None:
    assert normalize_provider(reported) == expected


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("gpt-4o", ModelMatch("gpt-4o", "exact")),
        ("openai/gpt-4o", ModelMatch("gpt-4o", "normalized")),
        ("anthropic/claude-sonnet-4", ModelMatch("claude-sonnet-4", "normalized")),
        ("models/gemini-2.5-pro", ModelMatch("gemini-2.5-pro", "normalized")),
        ("publishers/google/models/gemini-2.5-flash", ModelMatch("gemini-2.5-flash", "normalized")),
        (
            "projects/acme/locations/us-central1/publishers/google/models/gemini-1.5-pro-002",
            ModelMatch("gemini-1.5-pro", "normalized"),
        ),
        (
            "projects/acme/locations/us-east5/publishers/anthropic/models/claude-opus-4-1@20250805",
            ModelMatch("claude-opus-4-1", "normalized"),
        ),
        ("anthropic/claude-3.5-sonnet", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("openrouter/anthropic/claude-sonnet-4.5", ModelMatch("claude-sonnet-4-5", "normalized")),
        ("meta-llama/llama-3.1-8b-instruct:free", ModelMatch("llama-3.1-8b-instruct", "normalized")),
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("apac.anthropic.claude-sonnet-4-20250514-v1:0", ModelMatch("claude-sonnet-4", "normalized")),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", ModelMatch("claude-sonnet-4-5", "normalized")),
        ("amazon.nova-pro-v1:0", ModelMatch("nova-pro", "normalized")),
        ("us.amazon.nova-pro-v1:0", ModelMatch("nova-pro", "normalized")),
        ("meta.llama3-70b-instruct-v1:0", ModelMatch("llama3-70b-instruct", "normalized")),
        ("cohere.command-r-plus-v1:0", ModelMatch("command-r-plus", "normalized")),
        ("mistral.mistral-large-2402-v1:0", ModelMatch("mistral-large", "normalized")),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
            ModelMatch("claude-3-5-haiku", "normalized"),
        ),
        ("claude-3-5-sonnet-v2@20241022", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("claude-3-5-haiku@20241022", ModelMatch("claude-3-5-haiku", "normalized")),
        ("gpt-4o-2024-08-06", ModelMatch("gpt-4o", "normalized")),
        ("gpt-4o-2024-05-13", ModelMatch("gpt-4o-2024-05-13", "exact")),
        ("openai/gpt-4o-2024-05-13", ModelMatch("gpt-4o-2024-05-13", "normalized")),
        ("claude-3-5-sonnet-20241022", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("claude-3-5-sonnet-latest", ModelMatch("claude-3-5-sonnet", "normalized")),
        ("gemini-2.5-pro-preview-06-05", ModelMatch("gemini-2.5-pro", "normalized")),
        ("gemini-2.5-flash-preview-09-2025", ModelMatch("gemini-2.5-flash", "normalized")),
        ("gpt-4-0613", ModelMatch("gpt-4", "normalized")),
        ("gemini-1.5-flash-001", ModelMatch("gemini-1.5-flash", "normalized")),
        ("gpt-3.5-turbo-0125", ModelMatch("gpt-3.5-turbo", "normalized")),
        ("gpt-35-turbo", ModelMatch("gpt-3.5-turbo", "normalized")),
        ("command-r-plus-08-2024", ModelMatch("command-r-plus", "normalized")),
        ("o3-mini-2025-01-31", ModelMatch("o3-mini", "normalized")),
        ("GPT-4o", ModelMatch("gpt-4o", "normalized")),
        ("  gpt-4o  ", ModelMatch("gpt-4o", "normalized")),
        ("gpt-4o-mini:latest", ModelMatch("gpt-4o-mini", "normalized")),
    ],
)
def test_match_model_examples(reported: str, expected: ModelMatch) -> None:
    assert match_model(reported, KNOWN) == expected


@pytest.mark.parametrize(
    "reported",
    [
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",  # fine-tunes cost more than the base model
        "gpt-4-1106-preview",  # GPT-4 Turbo, not GPT-4: a bare -preview is never dropped
        "gpt-4o-realtime-preview-2024-12-17",
        "my-private-model",
        "",
        "   ",
    ],
)
def test_unknown_models_are_not_guessed(reported: str) -> None:
    assert match_model(reported, KNOWN) is None


def test_candidates_go_from_specific_to_general_without_duplicates() -> None:
    assert candidate_names("us.anthropic.claude-3-5-sonnet-20241022-v2:0") == [
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        "claude-3-5-sonnet-20241022-v2:0",
        "claude-3-5-sonnet-20241022-v2",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-sonnet",
    ]
    assert candidate_names("gpt-4o") == ["gpt-4o"]
    assert candidate_names("openai/gpt-4o-2024-08-06") == ["openai/gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "gpt-4o"]


def test_vertex_version_becomes_the_anthropic_dated_name() -> None:
    assert candidate_names("claude-3-5-sonnet-v2@20241022") == [
        "claude-3-5-sonnet-v2@20241022",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-sonnet",
    ]
    assert candidate_names("gemini-1.5-pro@latest")[1] == "gemini-1.5-pro"


def test_dated_snapshot_with_its_own_price_beats_the_base_name() -> None:
    assert match_model("gpt-4o-2024-05-13", {"gpt-4o", "gpt-4o-2024-05-13"}) == ModelMatch("gpt-4o-2024-05-13", "exact")
    assert match_model("azure/gpt-4o-2024-05-13", {"gpt-4o", "gpt-4o-2024-05-13"}) == ModelMatch(
        "gpt-4o-2024-05-13", "normalized"
    )
    bedrock = "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
    known = {"claude-3-5-sonnet", "claude-3-5-sonnet-20241022"}
    assert match_model(bedrock, known) == ModelMatch("claude-3-5-sonnet-20241022", "normalized")


def test_exact_beats_alias() -> None:
    assert match_model("gpt-4o", KNOWN, aliases={"gpt-4o": "gpt-4o-mini"}) == ModelMatch("gpt-4o", "exact")


def test_alias_beats_normalized() -> None:
    aliases = {"gpt-4o-2024-08-06": "gpt-4o-mini"}
    assert match_model("gpt-4o-2024-08-06", KNOWN, aliases=aliases) == ModelMatch("gpt-4o-mini", "alias")


def test_azure_deployment_alias_with_and_without_prefix() -> None:
    aliases = {"prod-gpt4o": "gpt-4o"}
    assert match_model("prod-gpt4o", KNOWN, aliases=aliases) == ModelMatch("gpt-4o", "alias")
    assert match_model("azure/prod-gpt4o", KNOWN, aliases=aliases) == ModelMatch("gpt-4o", "alias")
    assert match_model("Prod-GPT4o", KNOWN, aliases=aliases) == ModelMatch("gpt-4o", "alias")
    assert match_model("prod-gpt4o", KNOWN) is None


def test_alias_to_an_unknown_key_is_ignored() -> None:
    assert match_model("gpt-4o-2024-08-06", KNOWN, aliases={"gpt-4o-2024-08-06": "nope"}) == ModelMatch(
        "gpt-4o", "normalized"
    )


def test_normalized_beats_pattern() -> None:
    patterns = [(r"^gpt-4o", "gpt-4")]
    assert match_model("gpt-4o-2024-08-06", KNOWN, patterns=patterns) == ModelMatch("gpt-4o", "normalized")


def test_patterns_apply_in_the_order_given() -> None:
    patterns = [(r"^gpt-4-\d{4}-preview$", "gpt-4-turbo"), (r"^gpt-4", "gpt-4")]
    assert match_model("gpt-4-1106-preview", KNOWN, patterns=patterns) == ModelMatch("gpt-4-turbo", "pattern")
    assert match_model("gpt-4-vision-preview", KNOWN, patterns=patterns) == ModelMatch("gpt-4", "pattern")


def test_patterns_see_the_normalized_candidates_case_insensitively() -> None:
    patterns = [(r"^gpt-4-\d{4}-preview$", "gpt-4-turbo")]
    assert match_model("OpenAI/GPT-4-0125-Preview", KNOWN, patterns=patterns) == ModelMatch("gpt-4-turbo", "pattern")


def test_pattern_to_an_unknown_key_is_skipped() -> None:
    patterns = [(r"private", "nope"), (r"private", "gpt-4o")]
    assert match_model("my-private-model", KNOWN, patterns=patterns) == ModelMatch("gpt-4o", "pattern")


def test_invalid_pattern_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="invalid model pattern"):
        match_model("x", KNOWN, patterns=[("([", "gpt-4o")])


def test_catalog_keys_are_compared_case_insensitively() -> None:
    assert match_model("openai/gpt-4o", {"GPT-4o"}) == ModelMatch("GPT-4o", "normalized")


@given(st.text(max_size=80))
def test_matching_arbitrary_text_never_crashes_and_is_deterministic(reported: str) -> None:
    first = match_model(reported, KNOWN)
    assert first == match_model(reported, KNOWN)
    assert first is None or first.key in KNOWN
    names = candidate_names(reported)
    assert len(names) == len(set(names))


# --- The source's match clauses and the provider-aware catalog matcher -----------------------------


@pytest.mark.parametrize(
    ("clause", "text", "expected"),
    [
        ({"equals": "GPT-4o"}, "gpt-4o", True),
        ({"starts_with": "ft:gpt-4o-mini-2024-"}, "ft:gpt-4o-mini-2024-07-18:org::x", True),
        ({"ends_with": "-v1:0"}, "amazon.nova-pro-v1:0", True),
        ({"contains": "claude"}, "us.anthropic.claude-3", True),
        ({"regex": "^o[134]"}, "o3-mini", True),
        ({"regex": "^o[134]"}, "gpt-o3", False),
        ({"or": [{"equals": "a"}, {"equals": "b"}]}, "b", True),
        ({"and": [{"starts_with": "gemini"}, {"regex": "^(?!.*-tts)"}]}, "gemini-2.5-pro-tts", False),
        (None, "anything", False),
    ],
)
def test_clause_matches_like_the_source(clause, text: str, expected: bool) -> None:  # noqa: ANN001
    assert clause_matches(clause, text) is expected


def test_unknown_clause_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown match clause"):
        clause_matches({"fuzzy": "x"}, "x")


MATCHER = CatalogMatcher(
    [
        CatalogProviderRules("anthropic", {"contains": "anthropic"}, {"contains": "claude"}),
        CatalogProviderRules("azure", None, None, ("openai",)),
        CatalogProviderRules("openai", {"contains": "openai"}, {"starts_with": "gpt-"}),
        CatalogProviderRules("copilot", None, None),
    ],
    {
        "anthropic": [("claude-sonnet-4-5", {"contains": "claude-sonnet-4-5"})],
        "azure": [("gpt-4o-mini", {"equals": "gpt-4o-mini"})],
        "openai": [
            ("gpt-4o", {"or": [{"equals": "gpt-4o"}, {"equals": "gpt-4o-2024-08-06"}]}),
            ("ft:gpt-4o-mini", {"starts_with": "ft:gpt-4o-mini-2024-"}),
            ("gpt-4o-mini", None),
        ],
        "copilot": [("gpt-4o", {"equals": "gpt-4o"}), ("copilot-only", None)],
    },
    patterns=[(r"^my-gpt$", "gpt-4o")],
)


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        ("gpt-4o", None, CatalogMatch("openai", "gpt-4o", "exact")),
        ("gpt-4o", "copilot", CatalogMatch("copilot", "gpt-4o", "exact")),
        ("gpt-4o-mini", "az.ai.openai", CatalogMatch("azure", "gpt-4o-mini", "exact")),
        ("gpt-4o", "az.ai.openai", CatalogMatch("openai", "gpt-4o", "exact")),  # Azure falls back to OpenAI
        ("gpt-4o-2024-08-06", "openai", CatalogMatch("openai", "gpt-4o", "rule")),
        ("ft:gpt-4o-mini-2024-07-18:org::abc", "openai", CatalogMatch("openai", "ft:gpt-4o-mini", "rule")),
        ("claude-sonnet-4-5-20250929", "openai", CatalogMatch("anthropic", "claude-sonnet-4-5", "rule")),
        ("openai/GPT-4o-mini", "openai", CatalogMatch("openai", "gpt-4o-mini", "normalized")),
        ("copilot-only", None, CatalogMatch("copilot", "copilot-only", "exact")),  # unique in the catalog
        ("my-gpt", None, CatalogMatch("openai", "gpt-4o", "pattern")),
        ("llama-unknown", "openai", None),
    ],
)
def test_catalog_matcher_precedence(model: str, provider: str | None, expected: CatalogMatch | None) -> None:
    assert MATCHER.match(model, provider=provider) == expected


def test_catalog_matcher_aliases_come_before_rules() -> None:
    found = MATCHER.match("prod-deployment", provider="azure", aliases={"prod-deployment": "gpt-4o"})
    assert found == CatalogMatch("openai", "gpt-4o", "alias")
    assert MATCHER.match("gpt-4o", aliases={"gpt-4o": "claude-sonnet-4-5"}) == CatalogMatch("openai", "gpt-4o", "exact")
