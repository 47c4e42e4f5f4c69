#!/usr/bin/env bash
# Submit PLUM rounds to Slurm as a chain of jobs (each waits for the last with --dependency=afterok):
#   01 array (tests; skipped with --tests reference) -> 06 of the starting model (02 array + scoring job)
#   then per round: 02 array -> 03 array -> 04 -> 05 torchrun -> 06 (02 array, greedy, + scoring job)
# Shards are merged by glob, and every merging job first checks that all shards exist (slurm/check_shards.sh).
#
#   bash slurm/submit_round.sh --model M --data instr.jsonl --eval_data heldout.jsonl --out runs/slurm \
#       --rounds 3 --shards 8 --gpu_args "--gres=gpu:1" --train_args "--lr 5e-7" --nproc 8
#   bash slurm/submit_round.sh ... --local        # the same jobs, one after the other in this shell (no Slurm)
#   bash slurm/submit_round.sh --toy --out runs/slurm-toy --shards 3   # the toy world (built first, locally), with
#       run_plum.sh's toy settings for every stage whose --*_args (and --temperature) are not given
#
# Flags (defaults in brackets): --out DIR --model M --data D (instructions JSONL) --eval_data P (tests.jsonl-shaped
#   held-out set, scored with 06 --benchmark jsonl) --tests generated|reference [generated] --tests_file T
#   --rounds [1] --first_round [1] (continue a run: the checkpoint of round first_round-1 is the policy)
#   --shards [3] --num_samples [8] --temperature [0.8] --loss kto|dpo|grpo [kto] --off_policy --seed [0]
#   --nproc [1] (torchrun processes for 05) --sbatch_args "..." (every job: --partition, --time, --account)
#   --gpu_args "..." (the model jobs 01/02/05: --gres=gpu:1) --local
#   --tests_args/--sample_args/--exec_args/--pairs_args/--train_args/--eval_args "..." extra flags for one stage
#
# Writes the layout of run_plum.sh (OUT/tests, OUT/round-K/{samples,executions}.shard-*.jsonl, kto.jsonl, ckpt/,
# eval/), plus OUT/slurm/ (job logs) and NAME.submit beside each sharded output (the command check_shards.sh
# suggests to redo a lost shard). Prints the job ids; the last one finishing means the chain is done.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
die() { echo "error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------------
# flags

OUT=""; MODEL=""; DATA=""; EVAL_DATA=""; TESTS=generated; TESTS_FILE=""; ROUNDS=1; FIRST=1; SHARDS=3
NUM_SAMPLES=8; TEMPERATURE=0.8; LOSS=kto; OFF_POLICY=0; SEED=0; NPROC=1; SBATCH_ARGS=""; GPU_ARGS=""; LOCAL=0
TOY=0; TESTS_ARGS=""; SAMPLE_ARGS=""; EXEC_ARGS=""; PAIRS_ARGS=""; TRAIN_ARGS=""; EVAL_ARGS=""
need() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see the top of slurm/submit_round.sh)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) need "$@"; OUT=$2; shift 2 ;;             --model) need "$@"; MODEL=$2; shift 2 ;;
    --data) need "$@"; DATA=$2; shift 2 ;;           --eval_data) need "$@"; EVAL_DATA=$2; shift 2 ;;
    --tests) need "$@"; TESTS=$2; shift 2 ;;         --tests_file) need "$@"; TESTS_FILE=$2; shift 2 ;;
    --rounds) need "$@"; ROUNDS=$2; shift 2 ;;       --first_round) need "$@"; FIRST=$2; shift 2 ;;
    --shards) need "$@"; SHARDS=$2; shift 2 ;;       --num_samples) need "$@"; NUM_SAMPLES=$2; shift 2 ;;
    --temperature) need "$@"; TEMPERATURE=$2; TEMPERATURE_GIVEN=1; shift 2 ;;
    --loss) need "$@"; LOSS=$2; shift 2 ;;           --off_policy) OFF_POLICY=1; shift ;;
    --seed) need "$@"; SEED=$2; shift 2 ;;           --nproc) need "$@"; NPROC=$2; shift 2 ;;
    --sbatch_args) need "$@"; SBATCH_ARGS=$2; shift 2 ;;
    --gpu_args) need "$@"; GPU_ARGS=$2; shift 2 ;;   --local) LOCAL=1; shift ;;
    --toy) TOY=1; shift ;;
    --tests_args) need "$@"; TESTS_ARGS=$2; shift 2 ;;   --sample_args) need "$@"; SAMPLE_ARGS=$2; shift 2 ;;
    --exec_args) need "$@"; EXEC_ARGS=$2; shift 2 ;;     --pairs_args) need "$@"; PAIRS_ARGS=$2; shift 2 ;;
    --train_args) need "$@"; TRAIN_ARGS=$2; shift 2 ;;   --eval_args) need "$@"; EVAL_ARGS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown flag $1 (see bash slurm/submit_round.sh --help)" ;;
  esac
done
if [[ $TOY == 1 ]]; then
  toy="$REPO/.cache/toyworld"
  "$PY" "$REPO/toyworld.py" --out "$toy" || die "building the toy world failed; rerun to resume it"
  MODEL="${MODEL:-$toy/sft/final}"; DATA="${DATA:-$toy/train_instructions.jsonl}"
  EVAL_DATA="${EVAL_DATA:-$toy/heldout_tests.jsonl}"; TESTS_FILE="${TESTS_FILE:-$toy/train_tests.jsonl}"
  # run_plum.sh's toy settings, for each stage whose arguments were not given
  source "$REPO/toy_settings.sh"
  [[ ${TEMPERATURE_GIVEN:-0} == 1 ]] || TEMPERATURE=$TOY_TEMPERATURE
  TESTS_ARGS="${TESTS_ARGS:-$TOY_TESTS}"; SAMPLE_ARGS="${SAMPLE_ARGS:-$TOY_GEN}"; TRAIN_ARGS="${TRAIN_ARGS:-$TOY_TRAIN}"
fi
[[ -n $OUT && -n $MODEL && -n $DATA && -n $EVAL_DATA ]] || die "--out, --model, --data and --eval_data are needed"
# 2 or more: a single shard keeps its output's own name (common.shard_path), which the shard globs below do not match
[[ $SHARDS =~ ^([2-9]|[1-9][0-9]+)$ ]] || die "--shards must be a whole number of at least 2 (one shard: run_plum.sh)"
[[ $LOSS =~ ^(kto|dpo|grpo)$ ]] || die "--loss must be kto or dpo, or grpo"
[[ $TESTS == reference && -z $TESTS_FILE ]] && die "--tests reference needs --tests_file"
[[ $LOCAL == 1 ]] || command -v sbatch >/dev/null || die "sbatch not found: run on a Slurm login node, or pass --local"
OUT="$(mkdir -p "$OUT" && cd "$OUT" && pwd)"  # jobs run from their own folder: absolute paths only
mkdir -p "$OUT/slurm"
S=$(printf '%05d' "$SHARDS")
export PLUM_NPROC="$NPROC"  # torchrun processes of 05 (slurm/05_train_kto.sbatch reads it)

# ---------------------------------------------------------------------------------------------------------------
# one job: sbatch with a dependency on the previous job, or (--local) run now, every array index in turn

LAST=""  # the job the next one waits for
submit() {  # NAME ARRAY(0|1) NEEDS RESOURCES SCRIPT ARGS...
  local name=$1 array=$2 needs=$3 res=$4 script=$5 k rc; shift 5
  if [[ $LOCAL == 1 ]]; then
    for ((k = 0; k < (array ? SHARDS : 1); k++)); do
      rc=0
      if [[ $array == 1 ]]; then
        env PLUM_REPO="$REPO" PLUM_NEEDS="$needs" SLURM_ARRAY_TASK_ID=$k SLURM_ARRAY_TASK_COUNT="$SHARDS" \
          bash "$REPO/slurm/$script" "$@" > "$OUT/slurm/$name-local_$k.out" 2>&1 || rc=$?
      else
        env PLUM_REPO="$REPO" PLUM_NEEDS="$needs" bash "$REPO/slurm/$script" "$@" \
          > "$OUT/slurm/$name-local.out" 2>&1 || rc=$?
      fi
      [[ $rc == 0 ]] || { tail -n 5 "$OUT/slurm/$name-local"*.out >&2; die "$name failed (exit $rc); logs in $OUT/slurm"; }
    done
    echo "  $name: done locally"
    return 0
  fi
  local opts=(--parsable --job-name "plum-$name" --export "ALL,PLUM_REPO=$REPO,PLUM_NEEDS=$needs")
  [[ $array == 1 ]] && opts+=(--array "0-$((SHARDS - 1))" --output "$OUT/slurm/$name-%A_%a.out") \
    || opts+=(--output "$OUT/slurm/$name-%j.out")
  [[ -n $LAST ]] && opts+=(--dependency "afterok:$LAST" --kill-on-invalid-dep=yes)
  # shellcheck disable=SC2086  # resource strings are word lists by design
  LAST=$(sbatch "${opts[@]}" $SBATCH_ARGS $res "$REPO/slurm/$script" "$@") || die "sbatch refused $name"
  LAST=${LAST%%;*}
  echo "  $name: job $LAST"
}

# the command that redoes one shard of a sharded output, for check_shards.sh's message
remember() {  # OUTPUT RESOURCES SCRIPT ARGS...
  local out=$1 res=$2 script=$3; shift 3
  printf '%s ' $SBATCH_ARGS $res "$REPO/slurm/$script" > "$out.submit"
  printf '%q ' "$@" >> "$out.submit"
}

sharded() {  # NAME NEEDS RESOURCES SCRIPT OUTPUT ARGS...   (OUTPUT is also passed as --output)
  local name=$1 needs=$2 res=$3 script=$4 out=$5; shift 5
  remember "$out" "$res" "$script" "$@" --output "$out"
  submit "$name" 1 "$needs" "$res" "$script" "$@" --output "$out"
}

# held-out eval of a model: greedy completions by 02 as an array (06's jsonl prompt: the instruction and its first
# test, which is 02's --example_tests 1), then one 06 job scores the merged shards
evaluate() {  # NAME MODEL DIR
  mkdir -p "$3/eval"
  # shellcheck disable=SC2086
  sharded "$1-gen" "" "$GPU_ARGS" 02_sample.sbatch "$3/eval/gen.jsonl" --model "$2" --input "$EVAL_DATA" \
    --num_samples 1 --temperature 0 --seed "$SEED" $SAMPLE_ARGS
  # shellcheck disable=SC2086
  submit "$1" 0 "$3/eval/gen.jsonl:$SHARDS" "" 06_eval.sbatch --benchmark jsonl --data_path "$EVAL_DATA" \
    --samples "$3/eval/gen.shard-*-of-$S.jsonl" --output_dir "$3/eval" $EVAL_ARGS
}

# ---------------------------------------------------------------------------------------------------------------
# the chain

mkdir -p "$OUT/tests"
if [[ $FIRST == 1 ]]; then
  if [[ $TESTS == generated ]]; then
    # shellcheck disable=SC2086
    sharded tests "" "$GPU_ARGS" 01_generate_tests.sbatch "$OUT/tests/tests.jsonl" --model "$MODEL" \
      --dataset jsonl --data_path "$DATA" --seed "$SEED" $TESTS_ARGS
  fi
  evaluate eval-0 "$MODEL" "$OUT/round-0"
fi
if [[ $TESTS == generated ]]; then
  TESTS_IN="$OUT/tests/tests.shard-*-of-$S.jsonl"; TESTS_NEED="$OUT/tests/tests.jsonl:$SHARDS"
else
  TESTS_IN="$TESTS_FILE"; TESTS_NEED=""
fi
PAIRS=$LOSS
for ((r = FIRST; r < FIRST + ROUNDS; r++)); do
  R="$OUT/round-$r"; mkdir -p "$R"
  PREV="$MODEL"; [[ $r -gt 1 ]] && PREV="$OUT/round-$((r - 1))/ckpt/final"
  POLICY="$PREV"; [[ $OFF_POLICY == 1 ]] && POLICY="$MODEL"
  echo "round $r:"
  # shellcheck disable=SC2086
  sharded "r$r-02" "$TESTS_NEED" "$GPU_ARGS" 02_sample.sbatch "$R/samples.jsonl" --model "$POLICY" \
    --input "$TESTS_IN" --num_samples "$NUM_SAMPLES" --temperature "$TEMPERATURE" --seed $((SEED * 1000 + r)) \
    --round "$r" $SAMPLE_ARGS
  # shellcheck disable=SC2086
  sharded "r$r-03" "$R/samples.jsonl:$SHARDS $TESTS_NEED" "" 03_execute.sbatch "$R/executions.jsonl" \
    --samples "$R/samples.shard-*-of-$S.jsonl" --tests "$TESTS_IN" $EXEC_ARGS
  # shellcheck disable=SC2086
  submit "r$r-04" 0 "$R/samples.jsonl:$SHARDS $R/executions.jsonl:$SHARDS" "" 04_build_pairs.sbatch \
    --samples "$R/samples.shard-*-of-$S.jsonl" --executions "$R/executions.shard-*-of-$S.jsonl" \
    --output "$R/$PAIRS.jsonl" --format "$PAIRS" --seed "$SEED" $PAIRS_ARGS
  SAMPLER=(); [[ $LOSS == grpo ]] && SAMPLER=(--sampling_model "$POLICY")   # GRPO's ratio: against 02's model
  # shellcheck disable=SC2086
  submit "r$r-05" 0 "" "$GPU_ARGS" 05_train_kto.sbatch --model "$PREV" --ref_model "$MODEL" \
    --data "$R/$PAIRS.jsonl" --loss "$LOSS" --output_dir "$R/ckpt" --seed $((SEED * 1000 + r)) --resume \
    "${SAMPLER[@]}" $TRAIN_ARGS
  evaluate "eval-$r" "$R/ckpt/final" "$R"
done
echo "submitted; results in $OUT/round-*/eval/results.json${LAST:+ (the chain ends with job $LAST)}"
