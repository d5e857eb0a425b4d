"""64 batch jobs, each an RLM whose one sub-call takes 200 ms: the local runner against a
private Ray on this machine (``RayRunner("local")``, as ``rlmx batch --ray local``).

Both run the same jobs at the same width (2 at once: Ray's 2 CPUs, one a task; then 8 at
once: a quarter CPU a task) and must give the same rows. The replay models make the jobs
deterministic; the sandbox is ``process``. Reports the median of REPEATS runs of each.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from rlmx import RunConfig, batch
from rlmx.jobs import LocalRunner, Runner
from rlmx.ray_runner import RayRunner

from common import write_section

JOBS, DELAY, REPEATS, WIDTHS = 64, 0.2, 3, (2, 8)
ROOT = "```repl\nFINAL(llm_query('slow: ' + context))\n```"


def files(folder: Path) -> tuple[Path, str]:
    jobs = folder / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"id": f"j{i}", "query": "echo", "context": f"{i}"})
                            + "\n" for i in range(JOBS)))  # fmt: skip
    script = folder / "replay.json"
    sub = {"slow": {"sleep": DELAY, "reply": "done"}}
    script.write_text(json.dumps({"root": [ROOT], "sub": sub}))
    return jobs, f"replay:{script}"


def timed(runner: Runner, jobs: Path, spec: str, out: Path) -> tuple[float, set]:
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    rows = asyncio.run(
        batch.run(jobs, out, config=RunConfig.build(root=spec, sandbox="process"), runner=runner)
    )
    seconds = time.perf_counter() - started
    return seconds, {(row["id"], row["status"], row["answer"]) for row in rows}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jobs, spec = files(folder)
        lines = ["| jobs at once | local runner (s) | Ray, local cluster (s) | Ray / local |",
                 "| --- | --- | --- | --- |"]  # fmt: skip
        for width in WIDTHS:
            runners = {"local": LocalRunner(width), "ray": RayRunner("local", 2 / width)}
            times: dict[str, list[float]] = {name: [] for name in runners}
            results = {}
            for _ in range(REPEATS):
                for name, runner in runners.items():
                    seconds, results[name] = timed(runner, jobs, spec, folder / "out.jsonl")
                    times[name].append(seconds)
            assert results["local"] == results["ray"] and len(results["ray"]) == JOBS
            assert all(status == "final" and answer == "done" for _, status, answer
                       in results["ray"])  # fmt: skip
            local, ray = (statistics.median(times[name]) for name in ("local", "ray"))
            lines.append(f"| {width} | {local:.1f} | {ray:.1f} | {ray / local:.2f} |")
    write_section(
        "Batch jobs on Ray",
        f"{JOBS} jobs, each one RLM (replay root, `process` sandbox) whose sub-call sleeps "
        f"{DELAY * 1000:.0f} ms; median of {REPEATS} runs. Both runners return the same "
        f"{JOBS} rows (checked).\n\n" + "\n".join(lines) + "\n\nOn one 2-core machine Ray "
        "is overhead: its tasks run in separate worker processes (each with its own event "
        "loop and models) that share the two cores with the raylet and the GCS, where the "
        "local runner multiplexes every job on one event loop. Ray is for more machines "
        "than one; the rows are the same either way.",
    )


if __name__ == "__main__":
    main()
