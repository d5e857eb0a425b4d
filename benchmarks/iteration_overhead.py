"""Per-iteration host overhead with a 1 MB vs a 100 MB context, 30 iterations (replay model).

Target (issue 2): the same within noise, because the context crosses into the sandbox
once and never appears in messages or events. Also reports trajectory bytes per iteration.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

from rlmx import RLM

from common import write_section

ITERATIONS = 30
REPEATS = 5


def script(path: Path) -> str:
    replies = [f"```repl\nx = len(context) + {i}\nprint(x)\n```" for i in range(ITERATIONS - 1)]
    replies.append("```repl\nFINAL(x)\n```")
    path.write_text(json.dumps(replies))
    return f"replay:{path}"


def once(text: str, tmp: Path) -> tuple[float, float]:
    events: list = []
    traj = tmp / "t.jsonl"
    traj.unlink(missing_ok=True)
    rlm = RLM(
        script(tmp / "s.json"), max_iterations=ITERATIONS, on_event=events.append, trajectory=traj
    )
    result = rlm.completion(text, "q?")
    assert result.status == "final" and result.iterations == ITERATIONS
    first = next(e.ts for e in events if e.type == "llm_call")
    last = next(e.ts for e in events if e.type == "final_answer")
    per_iteration = (last - first) / (ITERATIONS - 1)
    return per_iteration, traj.stat().st_size / ITERATIONS


def main() -> None:
    rows = [
        "| context | ms per iteration (median) | min-max ms | trajectory bytes per iteration |",
        "|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, size in (("1 MB", 10**6), ("100 MB", 10**8)):
            text = "b" * size
            runs = [once(text, Path(tmp)) for _ in range(REPEATS)]
            per_it = [r[0] * 1000 for r in runs]
            rows.append(
                f"| {label} | {statistics.median(per_it):.2f} | {min(per_it):.2f}-"
                f"{max(per_it):.2f} | {statistics.median(r[1] for r in runs):.0f} |"
            )
    body = "\n".join(rows) + (
        f"\n\n{ITERATIONS} root turns per run (replay root model, one small cell each), "
        f"{REPEATS} runs per size; time from the first root reply to the final answer, "
        "per iteration (teardown excluded). Default sandbox mode."
    )
    write_section("Per-iteration overhead vs context size", body)


if __name__ == "__main__":
    main()
