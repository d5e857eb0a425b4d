"""Learnable trajectories: recorded prompts rebuild exactly, exports load in their target
tools (OpenAI's chat format, ``datasets``, the official ``rlms`` types), the RL environment
plays real runs and scores them, and LoRA fine-tuning runs end to end."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rlmx import RLM
from rlmx.core.config import RunConfig
from rlmx.core.events import PromptDelta, read_trajectory, trajectory_schema
from rlmx.lm.specs import create_lm
from rlmx.rlms_log import read_events
from rlmx.training.environment import RLMEnv, Shaping, load_tasks, rollout
from rlmx.training.export import ExportOptions, export, validate_chat_jsonl
from rlmx.training.runs import from_paths
from rlmx.training.turns import turns

from conftest import repl

DOCS = Path(__file__).resolve().parent.parent / "docs"
ROOT = [
    repl("n = len(context)\nprint(n)"),
    repl("word = llm_query('one word for the sky')\nchild = rlm_query('count', context='a b c')\n"
         "print(word, child)"),
    repl("FINAL(f'{n} {word} {child}')"),
]  # fmt: skip
CHILD = [repl("w = len(context.split())\nprint(w)"), repl("FINAL(w)")]


def _run(tmp_path: Path, name: str, root: list[Any], child: list[Any] | None = None,
         **settings: Any) -> tuple[Path, Any]:  # fmt: skip
    script = tmp_path / f"{name}.json"
    script.write_text(json.dumps({"root": root, "child": child or CHILD,
                                  "sub": {"sky": "blue"}}))  # fmt: skip
    trajectory = tmp_path / f"{name}.jsonl"
    lm = create_lm(f"replay:{script}", "root")
    settings.setdefault("max_depth", 2)
    result = RLM(lm, f"replay:{script}", trajectory=trajectory, **settings).completion(
        "twelve chars", "How long is it?"
    )
    return trajectory, (lm, result)


def test_recorded_prompts_rebuild_every_root_call_exactly(tmp_path: Path) -> None:
    trajectory, (lm, result) = _run(tmp_path, "run", ROOT)
    assert result.answer == "12 blue 3"
    found = turns(read_trajectory(trajectory))
    roots = [t for t in found if t.depth == 0]
    assert [t.messages for t in roots] == lm.prompts  # what the model was really sent
    assert [t.reply for t in roots] == ROOT
    children = [t for t in found if t.depth == 1]
    assert [t.reply for t in children] == CHILD and all(t.messages for t in children)
    assert roots[-1].final == "12 blue 3" and len(roots[1].cells) == 1


def test_prompt_delta_follows_a_trimmed_history() -> None:
    before = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "t"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "o1"},
    ]
    trimmed = [*before[:2], {"role": "assistant", "content": "a2"}]
    delta = PromptDelta.between(before, trimmed)
    assert (delta.keep, delta.add) == (2, [{"role": "assistant", "content": "a2"}])
    assert delta.apply(before) == trimmed
    with pytest.raises(ValueError, match="keeps 2 messages of 1"):
        delta.apply(before[:1])


def test_trajectory_schema_file_is_current_and_validates_real_runs(tmp_path: Path) -> None:
    written = json.loads((DOCS / "trajectory.schema.json").read_text())
    assert written == trajectory_schema(), "regenerate docs/trajectory.schema.json"
    trajectory, _ = _run(tmp_path, "run", ROOT)
    validator = jsonschema.Draft202012Validator(written)
    lines = [json.loads(line) for line in trajectory.read_text().splitlines()]
    for line in lines:
        validator.validate(line)
    assert {line["schema_version"] for line in lines} == {2}
    broken = {**lines[0], "depth": "deep"}
    assert list(validator.iter_errors(broken)), "the schema must refuse a wrong type"


def _three_runs(tmp_path: Path) -> list[Path]:
    """A good three-turn run, a one-turn run, and one whose first reply rlmx corrected."""
    good, _ = _run(tmp_path, "good", ROOT)
    short, _ = _run(tmp_path, "short", [repl("FINAL('x')")])
    corrected, _ = _run(tmp_path, "corrected", ["FINAL(99)", *ROOT])
    return [good, short, corrected]


def test_sft_export_follows_the_paper_filters_and_is_valid_chat_data(tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    runs = _three_runs(tmp_path)
    report = export(from_paths(runs), out, ExportOptions(roles=("root", "sub")))
    assert report.runs_read == 3 and report.runs_kept == 2
    assert report.dropped_runs == {"fewer than 2 root turns": 1}
    # the same sky sub-call in both runs: learned once
    assert report.dropped_samples == {"corrected by rlmx (premature_final)": 1, "duplicate": 1}
    assert report.by_role == {"root": 6, "sub": 1}  # 3 + 4 - 1 corrected
    assert validate_chat_jsonl(out) == []
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    third = lines[2]["messages"]
    assert third[-1] == {"role": "assistant", "content": ROOT[2]}
    assert [m.get("weight") for m in third if m["role"] == "assistant"] == [0, 0, None]
    assert third[0]["role"] == "system" and "How long is it?" in third[1]["content"]
    again = export(from_paths(runs * 2), tmp_path / "d.jsonl", ExportOptions())
    assert again.dropped_samples["duplicate"] == 6  # the same turns twice


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"messages": []}', "empty messages"),
        ('{"messages": [{"role": "user", "content": "q"}]}', "no assistant message"),
        ('{"messages": [{"role": "robot", "content": "q"}, {"role": "assistant", '
         '"content": "a"}]}', "has role 'robot'"),
        ('{"messages": [{"role": "user", "content": "q", "weight": 1}, {"role": "assistant", '
         '"content": "a"}]}', "weight must be 0 or 1"),
        ('{"messages": [{"role": "assistant", "content": "a", "weight": 0}]}', "is learned"),
        ('{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}]}',
         "no string content"),
        ("not json", "not JSON"),
    ],
)  # fmt: skip
def test_chat_validator_finds_each_format_problem(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    found = validate_chat_jsonl(path)
    assert found and problem in found[0]


def test_hf_export_loads_with_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "hf"
    export(from_paths(_three_runs(tmp_path)), folder, ExportOptions(format="hf"))
    loaded = datasets.load_dataset(str(folder))["train"]
    assert loaded.num_rows == 6
    assert set(loaded.column_names) >= {"messages", "run_id", "turn", "score"}
    assert loaded[0]["messages"][-1] == {"role": "assistant", "content": ROOT[0]}


def test_rlms_export_is_read_by_the_official_types_and_comes_back(tmp_path: Path) -> None:
    types = pytest.importorskip("rlm.core.types")
    good, _ = _run(tmp_path, "good", ROOT)
    folder = tmp_path / "rlms"
    export(from_paths([good]), folder, ExportOptions(format="rlms"))
    (path,) = folder.glob("*.jsonl")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    meta = {k: v for k, v in lines[0].items() if k not in ("type", "timestamp")}
    assert types.RLMMetadata(**meta).to_dict() == meta
    for line in lines[1:]:
        blocks = [types.CodeBlock(code=b["code"], result=types.REPLResult(
            **{k: v for k, v in b["result"].items() if k != "rlm_calls"},
            rlm_calls=[types.RLMChatCompletion.from_dict(c) for c in b["result"]["rlm_calls"]],
        )) for b in line["code_blocks"]]  # fmt: skip
        iteration = types.RLMIteration(line["prompt"], line["response"], blocks,
                                       line["final_answer"], line["iteration_time"])  # fmt: skip
        kept = {k: v for k, v in line.items() if k not in ("type", "iteration", "timestamp")}
        assert iteration.to_dict() == kept
    calls = [c["response"] for b in lines[2]["code_blocks"] for c in b["result"]["rlm_calls"]]
    assert calls == ["blue", "3"]  # the sub-call and the child's answer
    back = read_events(path)  # and rlmx reads it as a run again
    assert [t.reply for t in turns(back)] == ROOT
    assert back[-1].answer == "12 blue 3"


def test_a_log_written_by_the_rlms_logger_is_read_and_viewed(tmp_path: Path) -> None:
    logger_module = pytest.importorskip("rlm.logger.rlm_logger")
    types = pytest.importorskip("rlm.core.types")
    logger = logger_module.RLMLogger(log_dir=str(tmp_path))
    logger.log_metadata(types.RLMMetadata("gpt-5", 1, 10, "openai", {"model_name": "gpt-5"},
                                          "local", {}, None))  # fmt: skip
    prompt = [{"role": "system", "content": "sys"}, {"role": "user", "content": "q?"}]
    sub = types.RLMChatCompletion("gpt-5-mini", "chunk", "7", types.UsageSummary({}), 0.5)
    result = types.REPLResult("7\n", "", {}, 0.1, [sub])
    logger.log(types.RLMIteration(prompt, "```repl\nprint(7)\n```",
                                  [types.CodeBlock("print(7)", result)]))  # fmt: skip
    logger.log(types.RLMIteration([*prompt, {"role": "assistant", "content": "x"}], "FINAL(7)",
                                  [], final_answer="7"))  # fmt: skip
    events = read_events(Path(logger.log_file_path))
    kinds = [e.type for e in events]
    assert kinds == ["run_started", "llm_call", "code_executed", "sub_call", "llm_call",
                     "final_answer", "run_finished"]  # fmt: skip
    assert events[0].query == "q?" and events[-1].answer == "7"
    from rlmx.server.store import SQLiteStore, import_trajectory  # what `rlmx view` does

    async def viewed() -> dict[str, Any] | None:
        store = SQLiteStore(tmp_path / "runs.sqlite3")
        await store.connect()
        try:
            run_id = await import_trajectory(store, Path(logger.log_file_path))
            return await store.get_run(run_id)
        finally:
            await store.close()

    row = asyncio.run(viewed())
    assert row is not None and row["status"] == "final" and row["answer"] == "7"


def test_eval_rows_give_scores_and_min_score_filters(tmp_path: Path) -> None:
    good, _ = _run(tmp_path, "good", ROOT)
    other, _ = _run(tmp_path, "other", [repl("print(1)"), repl("FINAL(2)")])
    rows = tmp_path / "results.jsonl"
    rows.write_text("".join(json.dumps({"task": "t", "score": s, "trajectory": str(p)}) + "\n"
                            for p, s in ((good, 1.0), (other, 0.0))))  # fmt: skip
    report = export(from_paths([rows]), tmp_path / "o.jsonl", ExportOptions(min_score=0.5))
    assert report.runs_kept == 1 and report.dropped_runs == {"score below 0.5": 1}
    plain = export(from_paths([good]), tmp_path / "p.jsonl", ExportOptions(min_score=0.5))
    assert plain.dropped_runs == {"no score (--min-score needs eval result files)": 1}


def test_export_cli_reports_and_refuses(tmp_path: Path) -> None:
    runs = _three_runs(tmp_path)
    cli = [sys.executable, "-m", "rlmx.cli", "export"]
    done = subprocess.run([*cli, *map(str, runs), "-o", str(tmp_path / "x.jsonl"), "--json"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["samples"] == 6
    missing = subprocess.run([*cli, str(tmp_path / "none.jsonl")], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "not found" in missing.stderr
    nothing = subprocess.run([*cli, str(runs[1]), "-o", str(tmp_path / "y.jsonl")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert nothing.returncode == 1 and "fewer than 2 root turns" in nothing.stdout
    bad = subprocess.run([*cli, str(runs[0]), "--format", "csv"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "format must be" in bad.stderr


# -- the RL environment -----------------------------------------------------------------------
@pytest.fixture
def tasks(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    # a ranking question: a run outside an episode would recheck it
    task = {"context": "alpha 17\nbeta 42\ngamma 8",
            "question": "Which number after beta is highest?", "answer": 42}  # fmt: skip
    path.write_text(json.dumps(task) + "\n")
    return path


def _env(tmp_path: Path, tasks: Path, **shaping: float) -> RLMEnv:
    subs = f"replay:{_subs(tmp_path)}"  # the root is the environment's channel
    config = RunConfig.build(root=subs, sub=subs, max_iterations=4,
                             trajectory=tmp_path / "rollouts")  # fmt: skip
    return RLMEnv(load_tasks(tasks), config, shaping=Shaping(**shaping))


def _subs(tmp_path: Path) -> Path:
    path = tmp_path / "subs.json"
    path.write_text(json.dumps({"sub": {"number": "42"}}))
    return path


async def test_environment_steps_a_real_run_and_rewards_its_score(
    tmp_path: Path, tasks: Path
) -> None:
    env = _env(tmp_path, tasks, correction_penalty=0.25, sub_call_bonus=0.1)
    first = await env.reset(0)
    assert first.messages[0]["role"] == "system" and "beta" in first.messages[-1]["content"]
    premature = await env.step("FINAL(42)")  # before any code: rlmx corrects it
    assert not premature.done and premature.observation is not None
    found = await env.step(repl("print(llm_query('which number follows beta? ' + context))"))
    assert found.observation is not None and "42" in found.observation.new[-1]["content"]
    end = await env.step("FINAL(42)")
    assert end.done and end.observation is None
    assert end.info["score"] == 1.0 and end.info["corrections"] == 1 and end.info["delegated"]
    assert math.isclose(end.reward, 1.0 - 0.25 + 0.1)
    assert Path(end.info["trajectory"]).exists()  # the rollout was recorded
    wrong = await env.reset(0)
    assert wrong.new == wrong.messages  # a fresh episode
    await env.step(repl("print(1)"))
    assert (await env.step("FINAL(41)")).reward == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        await env.step("FINAL(1)")


async def test_closing_an_episode_midway_cancels_its_run(tmp_path: Path, tasks: Path) -> None:
    env = _env(tmp_path, tasks)
    await env.reset(0)
    await env.close()
    (recorded,) = (tmp_path / "rollouts").glob("*.jsonl")
    assert read_trajectory(recorded)[-1].status == "cancelled"


async def test_rollouts_with_the_embedded_model_return_rewards(tmp_path: Path, tasks: Path) -> None:
    policy = create_lm("local:smollm2-135m", "root")
    config = RunConfig.build(root="local:smollm2-135m", sub="local:smollm2-135m", max_iterations=2,
                             trajectory=tmp_path / "rollouts")  # fmt: skip
    env = RLMEnv(load_tasks(tasks), config, policy_name=policy.name,
                 context_window=policy.context_window, compact=policy.prefers_compact)  # fmt: skip
    try:
        played = await rollout(env, policy, index=0, max_tokens=128)
    finally:
        await env.close()
    assert 1 <= len(played.replies) <= 3 and 0.0 <= played.reward <= 1.0
    assert played.info["status"] in ("final", "max_iterations")
    events = read_trajectory(Path(played.info["trajectory"]))
    assert [t.reply for t in turns(events)] == played.replies  # recorded as it was played


# -- supervised fine-tuning -------------------------------------------------------------------
def test_sft_pipeline_runs_end_to_end_on_a_tiny_model(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    data = tmp_path / "sft.jsonl"
    export(from_paths(_three_runs(tmp_path)), data, ExportOptions())
    out = tmp_path / "trained"
    done = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "train", "sft", str(data), "--model", "smollm2-135m",
         "--out", str(out), "--steps", "2", "--max-length", "768", "--json"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["steps"] == 2 and report["samples"] == 6
    assert len(report["losses"]) == 2 and all(math.isfinite(x) for x in report["losses"])
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rlmx.training.sft import base_folder

    base = AutoModelForCausalLM.from_pretrained(base_folder("smollm2-135m"))
    tuned = PeftModel.from_pretrained(base, str(out / "adapter"))  # the adapter loads
    assert any("lora" in name for name, _ in tuned.named_parameters())


def test_sft_refuses_data_that_is_not_an_export(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    done = subprocess.run([sys.executable, "-m", "rlmx.cli", "train", "sft", str(bad)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2 and "the last message is not a reply" in done.stderr


def test_rollouts_cli_plays_episodes_and_prints_rewards(tmp_path: Path, tasks: Path) -> None:
    script = tmp_path / "policy.json"
    script.write_text(json.dumps([repl("print(context.split()[3])"), "FINAL(42)"] * 2))
    done = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "train", "rollouts", str(tasks), "--policy",
         f"replay:{script}", "--n", "2", "--trajectory", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["reward"], r["replies"], r["status"]) for r in rows] == [(1.0, 2, "final")] * 2
    unknown = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "train", "rollouts", "no-such-task", "--policy",
         f"replay:{script}"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert unknown.returncode == 2 and "unknown task" in unknown.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "train", "rollouts", str(tmp_path / "typo.jsonl"),
         "--policy", f"replay:{script}"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "no such tasks file" in missing.stderr


def test_the_server_store_is_a_source_of_runs(tmp_path: Path) -> None:
    from rlmx.server.store import SQLiteStore, import_trajectory
    from rlmx.training.runs import from_store

    good, _ = _run(tmp_path, "good", ROOT)

    async def stored() -> None:
        store = SQLiteStore(tmp_path / "runs.sqlite3")
        await store.connect()
        try:
            await import_trajectory(store, good)
        finally:
            await store.close()

    asyncio.run(stored())
    runs = asyncio.run(from_store(f"sqlite:///{tmp_path / 'runs.sqlite3'}", tmp_path, 10))
    assert [r.source.startswith("store:") for r in runs] == [True]
    report = export(runs, tmp_path / "s.jsonl", ExportOptions())
    assert report.by_role == {"root": 3} and validate_chat_jsonl(tmp_path / "s.jsonl") == []
