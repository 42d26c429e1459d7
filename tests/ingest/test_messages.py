from __future__ import annotations

import json

from ingest.canonical import SpanView
from ingest.mapping import span_views
from ingest.messages import GEN_AI_EVENTS, GEN_AI_INDEXED, GEN_AI_MESSAGES, content_text, read_messages

# The OTel GenAI conventions' formats, in the order the OTel and Traceloop dialects read them.
CONVENTIONS = (GEN_AI_MESSAGES, GEN_AI_INDEXED, GEN_AI_EVENTS)


def only_view(recorder) -> SpanView:
    [view] = list(span_views(recorder.request()))
    return view


def extract_messages(view) -> list:
    return read_messages(view, CONVENTIONS)


def test_otel_input_messages_with_system_instructions(recorder) -> None:
    recorder.record(
        "chat",
        {
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "be brief"}]),
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "weather?"}]},
                    {"role": "assistant", "parts": [{"type": "tool_call", "name": "get_weather", "arguments": {}}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "sunny"}], "finish_reason": "stop"}]
            ),
        },
    )
    text = extract_messages(only_view(recorder))
    assert text.prompt == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "weather?"}]
    assert text.completion == "sunny"


def test_legacy_content_events(recorder) -> None:
    recorder.record(
        "chat",
        events=[
            ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps([{"role": "user", "content": "ping"}])}),
            (
                "gen_ai.content.completion",
                {"gen_ai.completion": json.dumps([{"role": "assistant", "content": "pong"}])},
            ),
        ],
    )
    text = extract_messages(only_view(recorder))
    assert text.prompt == [{"role": "user", "content": "ping"}]
    assert text.completion == "pong"


def test_choice_event_with_plain_content(recorder) -> None:
    recorder.record(
        "chat",
        events=[
            ("gen_ai.user.message", {"content": "ping"}),
            ("gen_ai.choice", {"index": 0, "content": "pong"}),
        ],
    )
    text = extract_messages(only_view(recorder))
    assert text.prompt == [{"role": "user", "content": "ping"}]
    assert text.completion == "pong"


def test_traceloop_content_given_as_a_json_list_of_parts(recorder) -> None:
    recorder.record(
        "openai.chat",
        {
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": json.dumps([{"type": "text", "text": "describe"}, {"type": "image_url"}]),
            "gen_ai.prompt.10.role": "user",
            "gen_ai.prompt.10.content": "{not json",
            "gen_ai.prompt.2.role": "user",
            "gen_ai.prompt.2.content": '{"order": 7}',
        },
    )
    assert [m["content"] for m in extract_messages(only_view(recorder)).prompt] == [
        "describe",
        '{"order": 7}',
        "{not json",
    ]


def test_span_without_text_extracts_nothing(recorder) -> None:
    recorder.record("chat", {"gen_ai.operation.name": "chat"})
    text = extract_messages(only_view(recorder))
    assert (text.prompt, text.completion) == ([], "")


def test_content_text_shapes() -> None:
    assert content_text("plain") == "plain"
    assert content_text([{"type": "text", "text": "a"}, {"type": "input_text", "text": "b"}, "c"]) == "a\nb\nc"
    assert content_text({"type": "image", "url": "x"}) == ""
    assert content_text(None) == ""
    assert content_text(42) == ""


def test_the_first_format_with_a_prompt_wins_and_each_side_is_read_once(recorder) -> None:
    recorder.record(
        "chat",
        {
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": "from attributes"}]),
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "from the indexed form",
            "gen_ai.completion.0.content": "completion from the indexed form",
        },
        events=[("gen_ai.choice", {"index": 0, "content": "completion from an event"})],
    )
    text = extract_messages(only_view(recorder))
    assert text.prompt == [{"role": "user", "content": "from attributes"}]
    assert text.completion == "completion from the indexed form"
    assert read_messages(only_view(recorder), (GEN_AI_EVENTS,)).completion == "completion from an event"
