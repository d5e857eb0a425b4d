"""Supervised fine-tuning on exported trajectories (``rlmx train sft``): TRL's
``SFTTrainer`` with a PEFT LoRA adapter.

Each sample's history is the prompt and its last reply the completion, so the loss falls
on the reply alone (as the paper trained RLM-Qwen3-8B: one sample per root turn). The base
model is a Hugging Face folder, or a GGUF file (an embedded model's name finds its GGUF:
transformers de-quantizes it), so the pipeline runs offline on the embedded models.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SFTSettings:
    """The trainer's knobs (defaults: a short LoRA run that fits a CPU)."""

    steps: int | None = None  # optimizer steps; None: ``epochs`` over the data
    epochs: float = 1.0
    learning_rate: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 1
    max_length: int = 2048  # tokens of prompt + reply; longer samples are cut from the left
    lora_r: int = 8
    lora_alpha: int = 16
    seed: int = 0
    merge: bool = False  # also save the base model with the adapter merged in


@dataclass
class SFTReport:
    samples: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    out: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_base(model: str) -> tuple[str, str | None]:
    """(folder, gguf file name or None) for ``from_pretrained``: a folder, a ``.gguf``
    file, or an embedded model's name (its verified GGUF in rlmx's model folder)."""
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path), None
    if path.suffix == ".gguf" and path.is_file():
        return str(path.parent), path.name
    from ..lm.local import resolve_model_file

    found, _ = resolve_model_file(model.removeprefix("local:"))
    return str(found.parent), found.name


def base_folder(model: str) -> Path:
    """A Hugging Face folder of ``model``. A GGUF is de-quantized once into a folder beside
    it (``<file>.hf/``): a model loaded straight from GGUF is marked quantized and the
    trainer refuses it."""
    folder, gguf = resolve_base(model)
    if gguf is None:
        return Path(folder)
    target = Path(folder) / f"{gguf}.hf"
    if not (target / "config.json").exists():
        from transformers import AutoModelForCausalLM, AutoTokenizer

        partial = target.with_name(target.name + ".partial")
        loaded: Any = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf)
        # the weights are plain floats already: only the GGUF marker is left to drop
        loaded.hf_quantizer, loaded.is_quantized = None, False
        if hasattr(loaded.config, "quantization_config"):
            del loaded.config.quantization_config
        loaded.save_pretrained(partial)
        AutoTokenizer.from_pretrained(folder, gguf_file=gguf).save_pretrained(partial)
        partial.replace(target)
    return target


def load_base(model: str) -> tuple[Any, Any]:
    """The tokenizer and causal LM of ``model`` (see ``resolve_base``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = base_folder(model)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, AutoModelForCausalLM.from_pretrained(folder)


def prompt_completion(path: Path) -> list[dict[str, Any]]:
    """The samples of an ``sft`` export as TRL's conversational prompt/completion rows."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            messages = json.loads(line).get("messages") or []
            if not messages or messages[-1].get("role") != "assistant":
                raise ValueError(f"{path} line {number}: the last message is not a reply")
            plain = [{"role": m["role"], "content": m["content"]} for m in messages]
            rows.append({"prompt": plain[:-1], "completion": plain[-1:]})
    if not rows:
        raise ValueError(f"{path} holds no samples")
    return rows


def train_sft(data: Path, model: str, out: Path, settings: SFTSettings | None = None
              ) -> SFTReport:  # fmt: skip
    """Fine-tune ``model`` on ``data`` (an ``rlmx export --format sft`` file); the LoRA
    adapter (and with ``merge`` the merged model) goes to ``out``."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    settings = settings or SFTSettings()
    rows = prompt_completion(data)
    tokenizer, base = load_base(model)
    torch.manual_seed(settings.seed)
    losses: list[float] = []

    class _Losses(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    config = SFTConfig(
        output_dir=str(out / "checkpoints"),
        max_steps=settings.steps if settings.steps is not None else -1,
        num_train_epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        max_length=settings.max_length,
        truncation_mode="keep_end",  # the reply to learn is at the end
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=settings.seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
    )
    lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=0.0,
                      target_modules="all-linear", task_type="CAUSAL_LM")  # fmt: skip
    trainer = SFTTrainer(model=base, args=config, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=lora,
                         callbacks=[_Losses()])  # fmt: skip
    started = time.perf_counter()
    state = trainer.train()
    seconds = time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out / "adapter"))
    tokenizer.save_pretrained(str(out / "adapter"))
    if settings.merge:
        adapted: Any = trainer.model
        merged = adapted.merge_and_unload()
        merged.save_pretrained(str(out / "merged"))
        tokenizer.save_pretrained(str(out / "merged"))
    report = SFTReport(len(rows), int(state.global_step), seconds, losses, str(out))
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report
