"""Training data from recorded runs (``rlmx export``).

As the RLM paper built its SFT set: one sample per root turn, the history so far as input
and that turn's reply as output; runs that did not finish with an answer, scored 0, or
took a single turn are dropped, and so is a reply rlmx had to correct (a FINAL before any
code ran, a reply with no code, a doubted answer). Sub-model calls can be samples too
(``roles``). Every dropped run or turn is counted under its reason in the report.

Formats: ``sft`` (OpenAI chat fine-tuning JSONL: ``{"messages": [...]}``, earlier replies
weighted 0 so each line teaches its last reply only), ``hf`` (a Hugging Face ``datasets``
folder of parquet, with the run, turn and score beside the messages), ``rlms`` (one log
per run in the official ``rlms`` logger's format, for its visualizer).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..rlms_log import to_rlms
from .runs import RecordedRun
from .turns import turns

Format = Literal["sft", "hf", "rlms"]
ROLES = ("root", "child", "sub")


@dataclass
class ExportOptions:
    """What to keep. Defaults follow the paper's filtering."""

    format: Format = "sft"
    roles: tuple[str, ...] = ("root",)  # root turns, child RLMs' turns, plain sub-calls
    statuses: tuple[str, ...] = ("final",)  # run statuses kept
    min_score: float | None = None  # keep runs scored at least this (eval rows only)
    min_turns: int = 2  # root turns a run must have taken
    max_turn_chars: int | None = None  # drop a sample longer than this (prompt + reply)
    dedupe: bool = True
    keep_corrected: bool = False  # keep replies rlmx had to correct

    def __post_init__(self) -> None:
        unknown = [r for r in self.roles if r not in ROLES]
        if unknown or not self.roles:
            raise ValueError(f"roles must be among {', '.join(ROLES)}, not {unknown or '[]'}")
        if self.format not in ("sft", "hf", "rlms"):
            raise ValueError(f"format must be sft, hf or rlms, not {self.format!r}")


@dataclass
class ExportReport:
    """What an export read, kept and dropped (by reason)."""

    runs_read: int = 0
    runs_kept: int = 0
    samples: int = 0
    by_role: Counter[str] = field(default_factory=Counter)
    dropped_runs: Counter[str] = field(default_factory=Counter)
    dropped_samples: Counter[str] = field(default_factory=Counter)
    written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {name: dict(value) if isinstance(value, Counter) else value
                for name, value in vars(self).items()}  # fmt: skip

    def lines(self) -> list[str]:
        """The report for a person."""
        out = [
            f"{self.runs_read} runs read, {self.runs_kept} kept, {self.samples} samples "
            f"({', '.join(f'{n} {r}' for r, n in sorted(self.by_role.items())) or 'none'})"
        ]
        for title, counts in (("runs dropped", self.dropped_runs),
                              ("samples dropped", self.dropped_samples)):  # fmt: skip
            for reason, n in counts.most_common():
                out.append(f"  {title}: {n} {reason}")
        out += [f"wrote {path}" for path in self.written]
        return out


@dataclass
class Sample:
    """One training example: messages ending in the reply to learn."""

    messages: list[dict[str, Any]]
    role: str
    run_id: str
    turn: int
    source: str
    task: str | None
    score: float | None

    def chars(self) -> int:
        return sum(len(str(m.get("content", ""))) for m in self.messages)


def _run_problem(run: RecordedRun, options: ExportOptions) -> str | None:
    if run.status not in options.statuses:
        return f"status {run.status}"
    if options.min_score is not None:
        if run.score is None:
            return "no score (--min-score needs eval result files)"
        if run.score < options.min_score:
            return f"score below {options.min_score:g}"
    root_turns = sum(1 for t in turns(run.events) if t.depth == 0)
    if root_turns < options.min_turns:
        return f"fewer than {options.min_turns} root turns"
    return None


def _turn_samples(run: RecordedRun, options: ExportOptions, report: ExportReport
                  ) -> Iterator[Sample]:  # fmt: skip
    for turn in turns(run.events):
        role = "root" if turn.depth == 0 else "child"
        if role not in options.roles:
            continue
        if turn.messages is None:
            report.dropped_samples["prompt not recorded (trajectory older than schema 2)"] += 1
            continue
        if turn.corrected and not options.keep_corrected:
            report.dropped_samples[f"corrected by rlmx ({turn.corrected})"] += 1
            continue
        if not all(isinstance(m.get("content"), str) for m in turn.messages):
            report.dropped_samples["a message that is not text"] += 1
            continue
        messages = [{"role": m["role"], "content": m["content"]} for m in turn.messages]
        messages.append({"role": "assistant", "content": turn.reply})
        yield Sample(messages, role, turn.run_id, turn.index, run.source, run.task, run.score)


def _sub_samples(run: RecordedRun, report: ExportReport) -> Iterator[Sample]:
    for event in run.events:
        if event.type != "sub_call":
            continue
        if event.error:
            report.dropped_samples["sub-call failed"] += 1
        elif len(event.prompt) != event.prompt_chars:
            report.dropped_samples["sub-call prompt kept only in part (over 10,000 chars)"] += 1
        else:
            messages = [{"role": "user", "content": event.prompt},
                        {"role": "assistant", "content": event.response}]  # fmt: skip
            yield Sample(messages, "sub", event.run_id, 0, run.source, run.task, run.score)


def _kept(runs: Iterable[RecordedRun], options: ExportOptions, report: ExportReport
          ) -> Iterator[RecordedRun]:  # fmt: skip
    """The runs the options keep; each one read counted, each drop by its reason."""
    for run in runs:
        report.runs_read += 1
        problem = _run_problem(run, options)
        if problem is not None:
            report.dropped_runs[problem] += 1
            continue
        report.runs_kept += 1
        yield run


def samples(runs: Iterable[RecordedRun], options: ExportOptions, report: ExportReport
            ) -> Iterator[Sample]:  # fmt: skip
    """The samples the options keep, counting every drop in ``report``."""
    seen: set[str] = set()
    for run in _kept(runs, options, report):
        found = list(_turn_samples(run, options, report))
        if "sub" in options.roles:
            found += _sub_samples(run, report)
        for sample in found:
            if options.max_turn_chars is not None and sample.chars() > options.max_turn_chars:
                report.dropped_samples[f"longer than {options.max_turn_chars} chars"] += 1
                continue
            key = hashlib.sha256(json.dumps(sample.messages).encode()).hexdigest()
            if options.dedupe and key in seen:
                report.dropped_samples["duplicate"] += 1
                continue
            seen.add(key)
            report.samples += 1
            report.by_role[sample.role] += 1
            yield sample


def sft_line(sample: Sample) -> dict[str, Any]:
    """OpenAI's chat fine-tuning line: only the last reply is learned (weight 1)."""
    messages = [dict(m) for m in sample.messages]
    for message in messages[:-1]:
        if message["role"] == "assistant":
            message["weight"] = 0
    return {"messages": messages}


def export(runs: Iterable[RecordedRun], out: Path, options: ExportOptions) -> ExportReport:
    """Write the training data of ``runs`` to ``out`` (a file for sft, a folder else)."""
    report = ExportReport()
    if options.format == "rlms":
        _export_rlms(runs, out, options, report)
        return report
    kept = list(samples(runs, options, report))
    if options.format == "sft":
        out.parent.mkdir(parents=True, exist_ok=True)
        _atomic_lines(out, (sft_line(s) for s in kept))
        report.written.append(str(out))
    else:
        report.written.append(str(_write_hf(kept, out)))
    return report


def _export_rlms(runs: Iterable[RecordedRun], out: Path, options: ExportOptions,
                 report: ExportReport) -> None:  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    for run in _kept(runs, options, report):
        path = out / f"rlmx_{run.root.run_id}.jsonl"
        lines = to_rlms(run)
        report.samples += len(lines) - 1
        report.by_role["root"] += len(lines) - 1
        _atomic_lines(path, lines)
        report.written.append(str(path))


def _atomic_lines(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    """A JSONL file written whole or not at all (an interrupted export leaves no half)."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    partial.replace(path)


def _write_hf(kept: list[Sample], out: Path) -> Path:
    """A folder ``datasets.load_dataset(out)`` reads: ``data/train-*.parquet``."""
    try:
        from datasets import Dataset
    except ImportError:
        needs = "--format hf needs the datasets package: pip install 'rlmx[train]'"
        raise ValueError(needs) from None
    rows = [asdict(s) for s in kept]
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    target = data / "train-00000-of-00001.parquet"
    partial = target.with_name(target.name + ".partial")
    Dataset.from_list(rows).to_parquet(str(partial))
    partial.replace(target)
    return out


# -- the documented format, checked -----------------------------------------------------------
CHAT_ROLES = ("system", "user", "assistant", "tool")
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id"}


def validate_chat_jsonl(path: Path) -> list[str]:
    """Problems of a chat fine-tuning file by OpenAI's documented format (none: it is
    valid): each line a JSON object with a non-empty ``messages`` list; each message a
    known role with string content and only known keys; ``weight`` 0 or 1 on assistant
    messages only; at least one assistant message, and the last one learned."""
    problems: list[str] = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            problems += [f"line {number}: {p}" for p in _line_problems(line)]
    return problems


def _line_problems(line: str) -> list[str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return [f"not JSON ({exc})"]
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        return ["no messages list"]
    messages = record["messages"]
    if not messages:
        return ["empty messages"]
    problems = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            problems.append(f"message {i} is not an object")
            continue
        extra = set(message) - MESSAGE_KEYS
        if extra:
            problems.append(f"message {i} has unknown keys {sorted(extra)}")
        if message.get("role") not in CHAT_ROLES:
            problems.append(f"message {i} has role {message.get('role')!r}")
        if not isinstance(message.get("content"), str):
            problems.append(f"message {i} has no string content")
        if "weight" in message and (message["role"] != "assistant"
                                    or message["weight"] not in (0, 1)):  # fmt: skip
            problems.append(f"message {i}: weight must be 0 or 1, on an assistant message")
    assistants = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not assistants:
        problems.append("no assistant message")
    elif messages[-1] is not assistants[-1] or assistants[-1].get("weight", 1) != 1:
        problems.append("the last message must be an assistant reply that is learned")
    return problems
