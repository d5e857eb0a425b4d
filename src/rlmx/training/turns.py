"""The root turns inside recorded events.

A *turn* is one call of a run's root model: the exact messages it was sent (rebuilt from
the ``prompt`` deltas of schema-2 trajectories), the reply it gave, and what happened next
(the cells it ran, whether rlmx had to correct it). Older trajectories carry no prompts:
their turns cannot become training samples, and the export report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# notices that answer a reply rlmx had to correct: that reply is no example to learn from
CORRECTIONS = frozenset(
    {
        "no_code",
        "premature_final",
        "doubted_final",
        "schema_mismatch",
        "unfound_quotes",
        "quotes_dropped",
    }
)


@dataclass
class Turn:
    """One root-model call of a run (the root's own, or a child RLM's)."""

    run_id: str
    depth: int
    index: int  # 1-based within its run
    messages: list[dict[str, Any]] | None  # what the model was sent; None: not recorded
    reply: str
    corrected: str | None = None  # the kind of correction rlmx sent after it
    cells: list[Any] = field(default_factory=list)  # code_executed events it led to
    final: str | None = None  # the answer it gave, when it ended the run


def turns(events: list[Any]) -> list[Turn]:
    """Every root-model call in the events, in order, each with its rebuilt prompt."""
    sent: dict[str, list[dict[str, Any]] | None] = {}
    count: dict[str, int] = {}
    last: dict[str, Turn] = {}
    found: list[Turn] = []
    for event in events:
        if event.type == "llm_call":
            before = sent.get(event.run_id, [])
            messages = None
            if event.prompt is not None and before is not None:
                messages = event.prompt.apply(before)
            sent[event.run_id] = messages
            count[event.run_id] = count.get(event.run_id, 0) + 1
            turn = Turn(event.run_id, event.depth, count[event.run_id], messages, event.response)
            last[event.run_id] = turn
            found.append(turn)
            continue
        current = last.get(event.run_id)
        if current is None:
            continue
        if event.type == "notice" and event.kind in CORRECTIONS and current.corrected is None:
            current.corrected = event.kind
        elif event.type == "code_executed":
            current.cells.append(event)
        elif event.type == "final_answer":
            current.final = event.answer
    return found
