#!/usr/bin/env bash
# RVAA's comparison on video QA with the embedded model on this CPU: synthetic news videos
# of 1, 10 and 30 minutes, "Which topics are covered, and when does X first appear?",
# Direct Context vs Summarize-then-Answer vs Top-K Retrieval vs RLM (with and without
# sub-calls), 3 questions per length. Resumable; then the report.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL='local:qwen2.5-coder-1.5b?threads=2&threads_batch=2'
OUT=benchmarks/results/video_qa_eval.jsonl
RLMX=.venv/bin/rlmx
$RLMX eval run --task video-qa --lengths "${LENGTHS:-60,600,1800}" --n "${N:-3}" \
  --root "$MODEL" --max-iterations 8 --method direct --method topk --method rlm \
  --method rlm_nosub --method summary --out "$OUT"
$RLMX eval report "$OUT" --out benchmarks/results/video_qa_eval_report
