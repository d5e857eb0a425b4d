"""Would decoding a batch of sub-calls together make `llm_query_batched` faster here?

Issue 28 asks for `llm_query_batched` to decode several sequences at once with the
embedded model "where llama.cpp allows it". This measures what it would gain on this
machine before any of it is built into `lm/local.py`: BATCH sub-call-shaped prompts
(instructions and ~PROMPT_LINES log lines, the shape `llm_query_batched` gets from a chunked
context) answered greedily with GEN new tokens each, by the default model, three ways in
one llama.cpp context of its own:

- one after another (what rlmx does now: one sequence at a time);
- together, one KV stream per sequence (``kv_unified=False``): each decode step carries one
  token of every sequence, each attends only to its own cells;
- together, one unified KV cache (``kv_unified=True``): the same, but each token's
  attention runs over the cells of all sequences (masked).

Reported: median seconds (prompt evaluation, generation, total) of REPEATS runs, and
whether each batched way gave the sequential way's tokens.

Usage: python benchmarks/batched_decoding.py [--batch 4] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from rlmx.lm.local import resolve_model_file

from common import write_section

MODEL, GEN, PROMPT_LINES, N_BATCH = "qwen2.5-coder-1.5b", 100, 60, 512


def prompts(count: int) -> list[str]:
    """Sub-call-shaped prompts: an instruction and a chunk of log lines each."""
    rng = random.Random(1)
    out = []
    for _ in range(count):
        lines = (
            f"2026-01-0{rng.randint(1, 9)} svc{rng.randint(1, 9)} "
            f"{rng.choice(['INFO', 'ERROR', 'WARN'])} request {rng.randint(1000, 9999)} "
            f"took {rng.randint(1, 900)} ms"
            for _ in range(PROMPT_LINES)
        )
        ask = "Count the ERROR lines and name the service that fails most.\n"
        out.append(ask + "\n".join(lines))
    return out


class Decoder:
    """A llama.cpp context of its own for ``seqs`` sequences and a greedy decode loop."""

    def __init__(self, llama: Any, seqs: int, per_seq: int, unified: bool, threads: int) -> None:
        import llama_cpp

        self.lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = seqs * per_seq, N_BATCH, N_BATCH
        params.n_seq_max, params.kv_unified = seqs, unified
        self.ctx = llama_cpp.llama_init_from_model(llama._model.model, params)
        llama_cpp.llama_set_n_threads(self.ctx, threads, threads)
        vocab = llama_cpp.llama_model_get_vocab(llama._model.model)
        self.vocab = llama_cpp.llama_vocab_n_tokens(vocab)
        self.batch = llama_cpp.llama_batch_init(N_BATCH, 0, seqs)

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        self.lib.llama_free(self.ctx)

    def _decode(self, items: list[tuple[int, int, int, bool]]) -> dict[int, int]:
        """Decode (token, position, sequence, wants logits) items; the greedy next token
        of each sequence that wanted logits."""
        import numpy as np

        batch, picked = self.batch, {}
        for start in range(0, len(items), N_BATCH):
            part = items[start : start + N_BATCH]
            for k, (token, pos, seq, logits) in enumerate(part):
                batch.token[k], batch.pos[k], batch.n_seq_id[k] = token, pos, 1
                batch.seq_id[k][0], batch.logits[k] = seq, logits
            batch.n_tokens = len(part)
            if self.lib.llama_decode(self.ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            for k, (_token, _pos, seq, logits) in enumerate(part):
                if logits:
                    row = self.lib.llama_get_logits_ith(self.ctx, k)
                    picked[seq] = int(np.ctypeslib.as_array(row, shape=(self.vocab,)).argmax())
        return picked

    def run(self, token_lists: list[list[int]]) -> tuple[float, float, list[list[int]]]:
        """Prompt seconds, generation seconds and the GEN tokens of each sequence."""
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)
        started = time.perf_counter()
        nxt = self._decode([(t, pos, seq, pos == len(tokens) - 1)
                            for seq, tokens in enumerate(token_lists)
                            for pos, t in enumerate(tokens)])  # fmt: skip
        prompt_s = time.perf_counter() - started
        out: list[list[int]] = [[] for _ in token_lists]
        started = time.perf_counter()
        for step in range(GEN):
            for seq in nxt:
                out[seq].append(nxt[seq])
            if step < GEN - 1:
                nxt = self._decode([(nxt[s], len(token_lists[s]) + step, s, True) for s in nxt])
        return prompt_s, time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    from llama_cpp import Llama

    path, _ = resolve_model_file(MODEL)
    llama = Llama(model_path=str(path), n_ctx=512, verbose=False)  # the weights only
    tokens = [llama.tokenize(p.encode(), add_bos=True) for p in prompts(args.batch)]
    per_seq = max(len(t) for t in tokens) + GEN + 16
    ways = {"one after another": (1, None), "together, a KV stream each": (args.batch, False),
            "together, one unified KV cache": (args.batch, True)}  # fmt: skip
    times: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    outputs: dict[str, list[list[int]]] = {}
    for _ in range(args.repeats):
        for way, (seqs, unified) in ways.items():
            decoder = Decoder(llama, seqs, per_seq, bool(unified), args.threads)
            try:
                if seqs == 1:
                    runs = [decoder.run([t]) for t in tokens]
                    prompt_s, gen_s = sum(r[0] for r in runs), sum(r[1] for r in runs)
                    outputs[way] = [r[2][0] for r in runs]
                else:
                    prompt_s, gen_s, outputs[way] = decoder.run(tokens)
            finally:
                decoder.close()
            times[way].append((prompt_s, gen_s))
    first = outputs["one after another"]
    rows = ["| way | prompt s | generation s | total s | vs one after another | same tokens |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    base = statistics.median(p + g for p, g in times["one after another"])
    for way, samples in times.items():
        prompt_s = statistics.median(p for p, _ in samples)
        gen_s = statistics.median(g for _, g in samples)
        total = statistics.median(p + g for p, g in samples)
        same = sum(a == b for a, b in zip(outputs[way], first, strict=True))
        rows.append(f"| {way} | {prompt_s:.1f} | {gen_s:.1f} | {total:.1f} | "
                    f"{total / base:.2f}x | {same}/{len(first)} |")  # fmt: skip
    body = (
        f"{args.batch} sub-call-shaped prompts of {len(tokens[0]):,} tokens each, {GEN} new "
        f"tokens each (greedy), `{MODEL}`, {args.threads} threads; median of {args.repeats} "
        f"runs.\n\n" + "\n".join(rows)
    )
    write_section("Batched decoding of sub-calls (embedded model)", body)


if __name__ == "__main__":
    main()
