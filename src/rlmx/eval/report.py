"""``rlmx eval report``: the paper's Table 1, scaling plot and cost quartiles from results.

Writes ``report.md`` (score and cost, mean +- std per method and task; the same by length)
and two PNGs per task: ``scaling-<task>.png`` (mean score vs context length per method,
like Figure 1) and ``cost-<task>.png`` (cost quartiles per method, like Figure 3; tokens
when costs are unknown or all zero, as with local models).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from .methods import METHODS
from .tasks import TASKS


def load_rows(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    if not rows:
        raise ValueError("no result rows in " + ", ".join(str(p) for p in paths))
    return rows


def _mean_std(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {std:.{digits}f}"


def _cost(row: dict[str, Any]) -> float | None:
    return row.get("cost_usd")


def _priced(rows: list[dict[str, Any]]) -> bool:
    """Costs are worth showing: every row has one and some are not zero (local models
    cost nothing, so their tokens are shown instead)."""
    return all(_cost(r) is not None for r in rows) and any(_cost(r) for r in rows)


def _order(methods: set[str]) -> list[str]:
    return [m for m in METHODS if m in methods] + sorted(methods - set(METHODS))


def _unit(task: str) -> str:
    return TASKS[task].unit if task in TASKS else "tokens"


def _length_label(length: int, task: str) -> str:
    if _unit(task) != "tokens":  # a video's seconds
        return f"{length / 60:g} min" if length >= 60 else f"{length} s"
    return f"{length // 1024}K" if length < 2**20 else f"{length / 2**20:g}M"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per method, score and cost per task (all lengths together)."""
    tasks = sorted({r["task"] for r in rows})
    lines = ["| method | " + " | ".join(f"{t} score | {t} cost (USD) / tokens" for t in tasks)
             + " |", "|---|" + "---|---|" * len(tasks)]  # fmt: skip
    for method in _order({r["method"] for r in rows}):
        cells = []
        for task in tasks:
            mine = [r for r in rows if r["method"] == method and r["task"] == task]
            tokens = [r["usage"]["total_tokens"] for r in mine]
            if _priced(mine):
                cost = _mean_std([_cost(r) or 0.0 for r in mine], 4)
            else:
                cost = f"{statistics.mean(tokens):,.0f} tokens" if tokens else "-"
            cells += [_mean_std([r["score"] for r in mine]) + f" (n={len(mine)})", cost]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def by_length(rows: list[dict[str, Any]], task: str) -> str:
    """Markdown: mean score per method at each length of one task."""
    mine = [r for r in rows if r["task"] == task]
    lengths = sorted({r["length"] for r in mine})
    lines = ["| method | " + " | ".join(_length_label(x, task) for x in lengths) + " |",
             "|---|" + "---|" * len(lengths)]  # fmt: skip
    for method in _order({r["method"] for r in mine}):
        cells = []
        for length in lengths:
            scores = [r["score"] for r in mine if r["method"] == method and r["length"] == length]
            truncated = any(r.get("truncated") for r in mine
                            if r["method"] == method and r["length"] == length)  # fmt: skip
            cell = f"{statistics.mean(scores):.2f}" if scores else "-"
            cells.append(cell + (" (truncated)" if truncated else ""))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scaling_plot(rows: list[dict[str, Any]], task: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [r for r in rows if r["task"] == task]
    figure, axis = plt.subplots(figsize=(6, 4))
    for method in _order({r["method"] for r in mine}):
        points: dict[int, list[float]] = defaultdict(list)
        for r in mine:
            if r["method"] == method:
                points[r["length"]].append(r["score"])
        xs = sorted(points)
        axis.plot(xs, [statistics.mean(points[x]) for x in xs], marker="o", label=method)
    axis.set_xscale("log", base=2)
    axis.set_xlabel(f"length ({_unit(task)})")
    axis.set_ylabel("score")
    axis.set_ylim(-0.05, 1.05)
    axis.set_title(f"{task}: score vs context length")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def cost_plot(rows: list[dict[str, Any]], task: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [r for r in rows if r["task"] == task]
    methods = _order({r["method"] for r in mine})
    priced = _priced(mine)
    values = [
        [
            float(_cost(r) or 0.0) if priced else float(r["usage"]["total_tokens"])
            for r in mine
            if r["method"] == m
        ]
        for m in methods
    ]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.boxplot(values, whis=(0, 100))  # quartiles, whiskers at min and max
    axis.set_xticks(range(1, len(methods) + 1), methods, rotation=20)
    axis.set_ylabel("cost per item (USD)" if priced else "tokens per item (no costs known)")
    axis.set_title(f"{task}: cost quartiles")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(paths: list[Path], out_dir: Path) -> Path:
    """Write report.md and the plots for the result files; returns the report's path."""
    rows = load_rows(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = sorted({f"root {r['root']}, sub {r['sub'] or r['root']}" for r in rows})
    parts = [
        "# rlmx evaluation report",
        f"Results: {', '.join(str(p) for p in paths)}; {len(rows)} rows; " + "; ".join(models),
        "## Score and cost per method and task (mean ± std)",
        table(rows),
    ]
    for task in sorted({r["task"] for r in rows}):
        scaling, cost = out_dir / f"scaling-{task}.png", out_dir / f"cost-{task}.png"
        scaling_plot(rows, task, scaling)
        cost_plot(rows, task, cost)
        parts += [f"## {task} by context length", by_length(rows, task),
                  f"![{task} scaling]({scaling.name})", f"![{task} cost]({cost.name})"]  # fmt: skip
    errors = [r for r in rows if r.get("error")]
    if errors:
        parts.append(f"{len(errors)} rows ended with an error (score 0); first: "
                     f"{errors[0]['error'][:200]}")  # fmt: skip
    report = out_dir / "report.md"
    report.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return report
