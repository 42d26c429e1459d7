"""Cost rows as the API and the pages hand them out: the JSON shape of a ``CostRow`` and the CSV download.

Plain functions, no DRF: the cost API (``costwatch.usage.api``), the dimensions API and the web
app's cost tables all import them, so a row reads the same in JSON, in a page's CSV and in the
API's CSV.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.http import HttpResponse

from costwatch.display import csv_cell
from costwatch.money import UNPRICED, decimal_json
from costwatch.usage.queries import CostRow


def cost_row_json(row: CostRow) -> dict[str, object]:
    """One cost row as a JSON-ready dict (the fields of ``CostRowSerializer``; USD as decimal strings).

    Money sums the priced calls only; it is None when no call of the group is priced, and
    ``cost_complete`` is False while any call is unpriced or has unknown usage.
    """
    known = row.known_cost_usd is not None

    def part(value: Decimal) -> str | None:
        return decimal_json(value) if known else None

    return {
        "key": row.key,
        "cost_usd": part(row.cost_usd),
        "cost_complete": row.cost_complete,
        "cost_input_usd": part(row.cost_input_usd),
        "cost_cache_read_usd": part(row.cost_cache_read_usd),
        "cost_cache_write_usd": part(row.cost_cache_write_usd),
        "cost_output_usd": part(row.cost_output_usd),
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "cache_read_tokens": row.cache_read_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "llm_calls": row.llm_calls,
        "priced_calls": row.priced_calls,
        "unpriced_calls": row.unpriced_calls,
        "unknown_usage_calls": row.unknown_usage_calls,
        "estimated_calls": row.estimated_calls,
        "inferred_calls": row.inferred_calls,
        "approximate_calls": row.approximate_calls,
        "requests": row.requests,
        "errors": row.errors,
        "avg_cost_per_request_usd": decimal_json(row.avg_cost_per_request_usd.quantize(Decimal("1e-9")))
        if row.avg_cost_per_request_usd is not None
        else None,
        "prompt_cache_hit_rate": row.prompt_cache_hit_rate,
        "response_cache_hit_rate": row.response_cache_hit_rate,
        "savings_usd": decimal_json(row.savings_usd),
    }


# The CSV is for spreadsheets: exact decimal strings (never rounded), the cost breakdown and every
# token count. Output cost includes reasoning (reasoning tokens are billed as output tokens).
CSV_COLUMNS = [
    "key",
    "cost_usd",
    "cost_input_usd",
    "cost_cache_read_usd",
    "cost_cache_write_usd",
    "cost_output_usd",
    "cost_complete",
    "priced_calls",
    "unpriced_calls",
    "unknown_usage_calls",
    "estimated_calls",
    "inferred_calls",
    "approximate_calls",
    "prompt_tokens",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "llm_calls",
    "requests",
    "errors",
    "avg_cost_per_request_usd",
    "prompt_cache_hit_rate",
    "response_cache_hit_rate",
    "savings_usd",
]
CSV_MONEY = {name for name in CSV_COLUMNS if name.endswith("_usd")}


def cost_csv_response(rows: list[dict[str, Any]], filename: str) -> HttpResponse:
    """Rows of ``cost_row_json`` as a CSV download named ``filename``: every cell quoted and
    neutralized (``costwatch.display.csv_cell``); an unknown amount reads "unpriced", never 0 or blank."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        out = dict(row)
        out["prompt_tokens"] = sum(
            int(row.get(n) or 0) for n in ("input_tokens", "cache_read_tokens", "cache_write_tokens")
        )
        for name in CSV_MONEY:
            if out.get(name) is None and not (name == "avg_cost_per_request_usd" and not row.get("requests")):
                out[name] = UNPRICED
        writer.writerow([csv_cell(out.get(column)) for column in CSV_COLUMNS])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
