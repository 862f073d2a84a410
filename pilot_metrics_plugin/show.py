"""Text rendering of one execution record and of a reprice run."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pilot_metrics_plugin.record import ExecutionRecord, ms_to_iso


def usd(nano: int | None) -> str:
    """Dollars for people: exact, to the micro-dollar where it matters; 'unknown' for no figure."""
    if nano is None:
        return "unknown"
    value = Decimal(nano) / Decimal(10**9)
    return f"${value:,.4f}" if abs(nano) >= 10**7 or nano == 0 else f"${value:,.6f}"


def duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def render_record(record: ExecutionRecord) -> str:
    cost = usd(record.cost_nano_usd)
    if record.cost_source != "unknown":
        cost += f" ({record.cost_source})"
    else:
        cost += " (a model the price table does not know)"
    lines: list[tuple[str, Any]] = [
        ("execution", record.execution_id),
        ("task", record.task_id),
        ("project", record.project + (f"  ({record.project_path})" if record.project_path else "")),
        ("status", record.status + (f"  [{record.failure_category}] {record.failure_reason or ''}"
                                    if record.failure_category else "")),
        ("started", ms_to_iso(record.started_at_ms)),
        ("ended", ms_to_iso(record.ended_at_ms) or "-"),
        ("duration", duration(record.duration_ms)),
        ("turns", "-" if record.num_turns is None else record.num_turns),
        ("tokens", f"{record.tokens_total:,} total: {record.tokens_input:,} input, {record.tokens_output:,} output, "
                   f"{record.tokens_cache_read:,} cache read, {record.tokens_cache_write:,} cache write "
                   f"({record.tokens_cache_write_1h:,} of them 1h)"),
        ("cost", cost),
    ]
    if not record.usage_complete:
        lines.append(("usage", "incomplete: no result event; output tokens are placeholders"))
    if record.files_changed is not None:
        lines.append(("diff", f"{record.files_changed} files, +{record.lines_added} -{record.lines_removed}"))
    if record.commit_shas:
        lines.append(("commits", ", ".join(record.commit_shas)))
    if record.pr_url:
        lines.append(("pull request", record.pr_url))
    if record.tool_calls:
        lines.append(("tools", ", ".join(f"{name} {count}" for name, count in record.tool_calls.items())))
    if record.malformed_lines:
        lines.append(("malformed", f"{record.malformed_lines} lines or values skipped"))
    from tabulate import tabulate  # only when a record is shown: see render.check_style

    parts = [tabulate(lines, tablefmt="plain")]
    if record.models:
        parts.append(
            tabulate(
                [
                    (m.model, m.tokens_input, m.tokens_output, m.tokens_cache_read, m.tokens_cache_write,
                     m.tokens_total, usd(m.cost_nano_usd), m.cost_source)
                    for m in record.models
                ],
                headers=("model", "input", "output", "cache read", "cache write", "total", "cost", "source"),
                intfmt=",",
            )
        )
    if record.phases:
        parts.append(
            tabulate(
                [(p.name, ms_to_iso(p.started_at_ms), duration(p.duration_ms)) for p in record.phases],
                headers=("phase", "started", "duration"),
            )
        )
    return "\n\n".join(parts)


def render_reprice(changes: Sequence[Any], *, dry_run: bool) -> str:
    if not changes:
        return "no estimated or unknown costs changed"
    from tabulate import tabulate

    rows = [(c.execution_id[:12], c.task_id, usd(c.old_nano), usd(c.new_nano), c.new_source) for c in changes]
    verb = "would change" if dry_run else "changed"
    table = tabulate(rows, headers=("execution", "task", "old cost", "new cost", "source"))
    return f"{table}\n\n{len(changes)} executions {verb}"
