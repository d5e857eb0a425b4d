"""What CPU fine-tuning on rlmx trajectories shows: SmolLM2-135M (the smallest embedded
model, which cannot follow the RLM protocol) before and after LoRA SFT on trajectories of
the default model (Qwen2.5-Coder-1.5B).

Stages (each kept in --out, so a re-run resumes):
1. record: ``rlmx eval run`` with the default model on the *tune* tasks (sniah,
   shapes-tune) and on *held-out* tasks (sniah-noise-uuid, shapes-held-out).
2. export: training samples from the tune runs (``rlmx export``, the paper's filters:
   final, scored > 0, two or more turns, corrected replies dropped); evaluation prompts
   from every root turn of the held-out runs (never trained on).
3. protocol rate: the share of held-out prompts the small model answers with a well-formed
   turn (a ```repl block that compiles, or FINAL(...)), greedy, before and after training.
4. train: ``rlmx train sft`` (LoRA r=8, all linear layers).
5. rollouts: the small model plays the RL environment on held-out sniah-noise-uuid items
   (task score = the reward), before and after.

    python benchmarks/sft_trajectories.py --out bench-sft
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TUNE = [("sniah", "4000", 6), ("shapes-tune", "3000", 1)]
HELD_OUT = [("sniah-noise-uuid", "4000", 3), ("shapes-held-out", "3000", 1)]
SMALL = "smollm2-135m"


def record(out: Path, runs: list[tuple[str, str, int]]) -> list[Path]:
    files = []
    for task, lengths, n in runs:
        rows = out / f"{task}.jsonl"
        files.append(rows)
        cmd = [sys.executable, "-m", "rlmx.cli", "eval", "run", "--task", task, "--method",
               "rlm", "--lengths", lengths, "--n", str(n), "--out", str(rows),
               "--max-iterations", "8"]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(cmd, check=True)
        print(f"recorded {task}: {time.perf_counter() - started:.0f} s", flush=True)
    return files


def well_formed(reply: str) -> bool:
    """A turn rlmx can act on: a repl block that compiles, or a FINAL."""
    from rlmx.core.protocol import parse_reply

    parsed = parse_reply(reply)
    if parsed.final is not None:
        return True
    if not parsed.code_cells:
        return False
    try:
        for cell in parsed.code_cells:
            ast.parse(cell)
    except SyntaxError:
        return False
    return True


class HFModel:
    """A transformers model as an rlmx LM (greedy), for the rollouts of this benchmark."""

    supports_grammar = False
    supports_images = False
    prefers_compact = True
    tokenizer = None

    def __init__(self, model: Any, tokenizer: Any, name: str) -> None:
        self.model, self.tok, self.name = model, tokenizer, name
        self.context_window = 8192

    def reply(self, messages: list[dict[str, Any]], max_tokens: int) -> str:
        import torch

        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True,
                                           return_tensors="pt", return_dict=True)  # fmt: skip
        ids = {k: v[:, -6000:] for k, v in ids.items()}
        with torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=max_tokens, do_sample=False,
                                      pad_token_id=self.tok.eos_token_id)  # fmt: skip
        return str(self.tok.decode(out[0][ids["input_ids"].shape[1] :], skip_special_tokens=True))

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> Any:
        from rlmx.lm.base import LMResponse, Usage

        text = await asyncio.to_thread(self.reply, messages, min(max_tokens or 300, 300))
        return LMResponse(text=text, usage=Usage(calls=1), model=self.name)

    async def aclose(self) -> None:
        return None


def protocol_rate(model: HFModel, prompts: list[list[dict[str, Any]]]) -> float:
    good = sum(well_formed(model.reply(p, 300)) for p in prompts)
    return good / len(prompts)


async def rollouts(model: HFModel, out: Path, label: str) -> list[float]:
    from rlmx.core.config import RunConfig
    from rlmx.eval.runner import generate
    from rlmx.training.environment import RLMEnv, rollout

    items = generate("sniah-noise-uuid", [2000], 4)
    config = RunConfig.build(root="local:qwen2.5-coder-1.5b", sub="local:qwen2.5-coder-1.5b",
                             max_iterations=4, trajectory=out / f"rollouts-{label}")  # fmt: skip
    env = RLMEnv(items, config, policy_name=label, context_window=8192, compact=True)
    rewards = []
    try:
        for i in range(len(items)):
            rewards.append((await rollout(env, model, index=i, max_tokens=300)).reward)
    finally:
        await env.close()
    return rewards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-sft"))
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    from rlmx.training.export import ExportOptions, export
    from rlmx.training.runs import from_paths
    from rlmx.training.sft import SFTSettings, load_base, train_sft

    result: dict[str, Any] = {}
    started = time.perf_counter()
    tune = [out / f"{t}.jsonl" for t, _, _ in TUNE]
    held = [out / f"{t}.jsonl" for t, _, _ in HELD_OUT]
    if not all(p.exists() for p in tune + held):
        record(out, TUNE + HELD_OUT)
    result["record_s"] = round(time.perf_counter() - started, 1)
    train = out / "train.jsonl"
    report = export(from_paths(tune), train, ExportOptions(min_score=0.01))
    result["train_export"] = report.to_dict()
    evaluation = out / "held-out.jsonl"
    every = ExportOptions(statuses=("final", "max_iterations", "budget_exhausted", "error"),
                          min_turns=1, keep_corrected=True)  # fmt: skip
    result["held_out_export"] = export(from_paths(held), evaluation, every).to_dict()
    prompts = [json.loads(line)["messages"][:-1] for line in evaluation.read_text().splitlines()]
    prompts = [[{"role": m["role"], "content": m["content"]} for m in p] for p in prompts]
    result["held_out_prompts"] = len(prompts)

    tokenizer, base = load_base(SMALL)
    before = HFModel(base, tokenizer, "smollm2-base")
    result["protocol_before"] = protocol_rate(before, prompts)
    result["rollouts_before"] = asyncio.run(rollouts(before, out, "before"))
    print(json.dumps(result), flush=True)

    trained = out / "trained"
    sft = train_sft(train, SMALL, trained, SFTSettings(steps=args.steps, max_length=2048))
    result["sft"] = {"samples": sft.samples, "steps": sft.steps, "seconds": round(sft.seconds),
                     "loss_first": sft.losses[:5], "loss_last": sft.losses[-5:]}  # fmt: skip
    from peft import PeftModel

    tokenizer, base = load_base(SMALL)
    tuned = HFModel(PeftModel.from_pretrained(base, str(trained / "adapter")).merge_and_unload(),
                    tokenizer, "smollm2-sft")  # fmt: skip
    result["protocol_after"] = protocol_rate(tuned, prompts)
    result["rollouts_after"] = asyncio.run(rollouts(tuned, out, "after"))
    result["total_s"] = round(time.perf_counter() - started, 1)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
