#!/usr/bin/env bash
# The paper's comparison at small scale with the embedded model on this CPU:
# S-NIAH at 4K and 8K tokens, OOLONG (trec_coarse, all question families) at 2K, 4K, 8K;
# base model vs RLM without sub-calls vs RLM, 3 items each. Resumable; then the report.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL='local:qwen2.5-coder-1.5b?threads=2&threads_batch=2'
OUT=benchmarks/results/eval_embedded.jsonl
RLMX=.venv/bin/rlmx
$RLMX eval run --task sniah --lengths 4096,8192 --n 3 --root "$MODEL" --max-iterations 8 \
  --method base --method rlm_nosub --method rlm --out "$OUT"
$RLMX eval run --task oolong --data ../shared/data/oolong --lengths 2048,4096,8192 --n 3 --root "$MODEL" --max-iterations 8 \
  --method base --method rlm_nosub --method rlm --out "$OUT"
$RLMX eval report "$OUT" --out benchmarks/results/eval_embedded_report
