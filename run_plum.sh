#!/usr/bin/env bash
# PLUM, online: the model writes tests once (01), then R rounds of 02 sample -> 03 execute -> 04 build pairs ->
# 05 train, each round sampling from the previous round's checkpoint, with 06 eval after each round.
#
#   bash run_plum.sh                                   # the toy code world (no GPU, no download): builds and caches
#                                                      # the SFT model (.cache/toyworld), 3 rounds, <20 min on 2 CPUs
#   bash run_plum.sh --rounds 3 --seed 1 --out runs/toy-s1
#   bash run_plum.sh --loss dpo | --off_policy | --tests reference | --rounds 1      # the paper's ablations
#   bash run_plum.sh --loss sft | --corrupt_tests 0.25 | --pairs_args "--shuffle_labels"    # baselines, controls
#   python run_experiments.py                          # every arm x 3 seeds, one table (experiments.md)
#   bash run_plum.sh --model Qwen/Qwen2.5-Coder-1.5B-Instruct --data mbpp --benchmark mbpp_plus \
#       --eval_data ../shared/data/evalplus/MbppPlus-v0.2.0.jsonl.gz --backend vllm --out runs/qwen
#   (on a Slurm cluster: slurm/submit_round.sh runs the same stages as sharded array jobs)
#
# Flags (defaults in brackets): --rounds [3] --num_samples [8] --temperature [0.8; toy 1.0]
#   --loss kto|dpo|sft|grpo [kto] (sft: rejection-sampling fine-tuning, 04 --format sft keeps the passing samples
#   and 05 --loss sft learns them; --pairs_args "--sft_filter none" keeps every sample; grpo: RL from the same
#   tests, 04 --format grpo gives every sample its group advantage and 05 --loss grpo takes its ratio against the
#   round's sampler, --sampling_model)
#   --corrupt_tests P (a share of 01's kept tests given a wrong expected value, 01 --corrupt_from; the rounds use
#   tests/tests.corrupt.jsonl) --eval2_data P (a second benchmark file, evaluated beside --eval_data every round)
#   --off_policy (every round samples from the starting model; training still continues from the last checkpoint)
#   --tests generated|reference [generated] (reference: the instruction set's own tests, --tests_file)
#   --model M [toy SFT model] --data D (01's --dataset: mbpp, leetcode, a HF name, or a JSONL file) [toy train set]
#   --tests_file T (tests.jsonl-shaped, for --tests reference) --benchmark B [toy: jsonl] --eval_data P
#   --backend hf|vllm [hf] --seed S [0] --out DIR [runs/plum]
#   --tests_args/--sample_args/--exec_args/--pairs_args/--train_args/--eval_args "..."  extra flags for one stage
#
# Writes, under --out:
#   run.json                        the resolved settings; a rerun with other settings refuses the folder
#   tests/tests.jsonl               01's tests (or a copy of --tests_file with --tests reference)
#   round-0/eval/                   06 on the starting model (results.json, executions.jsonl, samples.jsonl)
#   round-K/samples.jsonl           02: samples from round K-1's checkpoint (round 1 and --off_policy: the start)
#   round-K/executions.jsonl        03: every sample run against its task's tests
#   tests/tests.corrupt.jsonl       with --corrupt_tests: the tests the rounds use
#   round-K/kto.jsonl | dpo.jsonl | sft.jsonl | grpo.jsonl
#                                   04: KTO examples, DPO pairs, the SFT set or GRPO samples (+ .stats.json)
#   round-K/ckpt/final/             05: the policy after round K (checkpoints and metrics.jsonl beside it)
#   round-K/eval/                   06 on round K's checkpoint (round-K/eval2/ on --eval2_data)
#   */logs/NN.log, */.done/NN       each stage's full output; the marker written (atomically) when it exited 0
#   summary.jsonl, summary.md       per round: held-out pass@1, share of samples passing, kept tests, examples
#   pass_at_1.png                   pass@1 by round, titled with the benchmark, the run and its settings
# Resume: every stage whose marker exists is skipped; a stage without one is rerun, and resumes its partial output
# (the stages skip the keys already written; 05 continues from its last checkpoint). Kill it anywhere and rerun.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python}"

die() { echo "error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------------
# flags

ROUNDS=3; NUM_SAMPLES=8; TEMPERATURE=""; LOSS=kto; OFF_POLICY=0; TESTS=generated; MODEL=""; DATA=""
TESTS_FILE=""; BENCHMARK=""; EVAL_DATA=""; EVAL2_DATA=""; CORRUPT=""; BACKEND=hf; SEED=0; OUT=runs/plum; TOY_DIR="${TOY_DIR:-$REPO/.cache/toyworld}"
TESTS_ARGS=""; SAMPLE_ARGS=""; EXEC_ARGS=""; PAIRS_ARGS=""; TRAIN_ARGS=""; EVAL_ARGS=""
need() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value (see the flags at the top of run_plum.sh)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) need "$@"; ROUNDS=$2; shift 2 ;;
    --num_samples) need "$@"; NUM_SAMPLES=$2; shift 2 ;;
    --temperature) need "$@"; TEMPERATURE=$2; shift 2 ;;
    --loss) need "$@"; LOSS=$2; shift 2 ;;
    --off_policy) OFF_POLICY=1; shift ;;
    --tests) need "$@"; TESTS=$2; shift 2 ;;
    --model) need "$@"; MODEL=$2; shift 2 ;;
    --data) need "$@"; DATA=$2; shift 2 ;;
    --tests_file) need "$@"; TESTS_FILE=$2; shift 2 ;;
    --benchmark) need "$@"; BENCHMARK=$2; shift 2 ;;
    --eval_data) need "$@"; EVAL_DATA=$2; shift 2 ;;
    --eval2_data) need "$@"; EVAL2_DATA=$2; shift 2 ;;
    --corrupt_tests) need "$@"; CORRUPT=$2; shift 2 ;;
    --backend) need "$@"; BACKEND=$2; shift 2 ;;
    --seed) need "$@"; SEED=$2; shift 2 ;;
    --out) need "$@"; OUT=$2; shift 2 ;;
    --toy_dir) need "$@"; TOY_DIR=$2; shift 2 ;;
    --tests_args) need "$@"; TESTS_ARGS=$2; shift 2 ;;
    --sample_args) need "$@"; SAMPLE_ARGS=$2; shift 2 ;;
    --exec_args) need "$@"; EXEC_ARGS=$2; shift 2 ;;
    --pairs_args) need "$@"; PAIRS_ARGS=$2; shift 2 ;;
    --train_args) need "$@"; TRAIN_ARGS=$2; shift 2 ;;
    --eval_args) need "$@"; EVAL_ARGS=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown flag $1 (see bash run_plum.sh --help)" ;;
  esac
done
[[ $ROUNDS =~ ^[0-9]+$ ]] || die "--rounds must be a whole number, got '$ROUNDS'"
[[ $NUM_SAMPLES =~ ^[1-9][0-9]*$ ]] || die "--num_samples must be a positive whole number, got '$NUM_SAMPLES'"
[[ $LOSS =~ ^(kto|dpo|sft|grpo)$ ]] || die "--loss must be kto or dpo, or sft (RFT) or grpo (RL), got '$LOSS'"
[[ -z $CORRUPT || $CORRUPT =~ ^(0|1|0?\.[0-9]+)$ ]] || die "--corrupt_tests must be a share in [0, 1], got '$CORRUPT'"
[[ -z $EVAL2_DATA || -f $EVAL2_DATA ]] || die "--eval2_data $EVAL2_DATA: no such file"
[[ $TESTS == generated || $TESTS == reference ]] || die "--tests must be generated or reference, got '$TESTS'"

# ---------------------------------------------------------------------------------------------------------------
# setup: the toy world when no model is given; settings that fit it

if [[ -z $MODEL ]]; then
  [[ -z $DATA && -z $BENCHMARK ]] || die "--data/--benchmark need --model (without --model the toy world is used)"
  # One torch thread per stage: the toy model's matmuls are too small to gain from a second one, and two spinning
  # threads made SFT steps several times slower on a shared 2-core machine (measured; notes/loop.md).
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  echo "== toy code world ($TOY_DIR)"
  "$PY" "$REPO/toyworld.py" --out "$TOY_DIR" || die "the toy world is not ready (the message above says why); a killed build resumes when rerun"
  MODEL="$TOY_DIR/sft/final"; DATA="$TOY_DIR/train_instructions.jsonl"; TESTS_FILE="$TOY_DIR/train_tests.jsonl"
  TOY_WORLD_JSON="$TOY_DIR/world.json"
  source "$REPO/toy_settings.sh"   # TOY_TEMPERATURE, TOY_TESTS, TOY_GEN, TOY_TRAIN (why they are what they are)
  BENCHMARK=jsonl; EVAL_DATA="$TOY_DIR/heldout_tests.jsonl"; TEMPERATURE="${TEMPERATURE:-$TOY_TEMPERATURE}"
else
  [[ -n $DATA ]] || die "--model needs --data (01's instruction set: mbpp, leetcode, a HF dataset or a JSONL file)"
  BENCHMARK="${BENCHMARK:-humaneval}"; TOY_TESTS=""; TOY_GEN=""; TOY_TRAIN=""
fi
TEMPERATURE="${TEMPERATURE:-0.8}"
if [[ $TESTS == reference ]]; then
  [[ -n $TESTS_FILE ]] || die "--tests reference needs --tests_file T.jsonl (tests.jsonl-shaped) outside the toy world"
  [[ -f $TESTS_FILE ]] || die "--tests_file $TESTS_FILE: no such file"
fi
if [[ -f $DATA ]]; then DATA_FLAGS=(--dataset jsonl --data_path "$DATA"); else DATA_FLAGS=(--dataset "$DATA"); fi
EVAL_FLAGS=(--benchmark "$BENCHMARK"); [[ -n $EVAL_DATA ]] && EVAL_FLAGS+=(--data_path "$EVAL_DATA")
PAIRS="$LOSS"  # 04's --format: kto examples, dpo pairs or an sft set

# Each stage's own bar is its progress; transformers' bars for every model load and save are noise in the logs.
export HF_HUB_DISABLE_PROGRESS_BARS="${HF_HUB_DISABLE_PROGRESS_BARS:-1}"

mkdir -p "$OUT"
# The settings that make a run what it is (--rounds is not one: a rerun with more rounds continues the run).
SETTINGS=$(printf '%s\n' "num_samples=$NUM_SAMPLES" "temperature=$TEMPERATURE" "loss=$LOSS" "off_policy=$OFF_POLICY" \
  "tests=$TESTS" "model=$MODEL" "data=$DATA" "tests_file=$TESTS_FILE" "benchmark=$BENCHMARK" "eval_data=$EVAL_DATA" \
  "backend=$BACKEND" "seed=$SEED" "tests_args=$TESTS_ARGS" "sample_args=$SAMPLE_ARGS" "exec_args=$EXEC_ARGS" \
  "pairs_args=$PAIRS_ARGS" "train_args=$TRAIN_ARGS" "eval_args=$EVAL_ARGS")
# the later settings only when given, so folders of runs without them still match
[[ -n $CORRUPT ]] && SETTINGS+=$'\n'"corrupt_tests=$CORRUPT"
[[ -n $EVAL2_DATA ]] && SETTINGS+=$'\n'"eval2_data=$EVAL2_DATA"
if [[ -f $OUT/run.settings ]]; then
  if [[ "$(cat "$OUT/run.settings")" != "$SETTINGS" ]]; then
    diff <(cat "$OUT/run.settings") <(echo "$SETTINGS") >&2 || true
    die "$OUT was started with other settings (above: < then, > now); rerun with the same flags, or pass another --out"
  fi
else
  printf '%s\n' "$SETTINGS" > "$OUT/.run.settings.tmp" && mv "$OUT/.run.settings.tmp" "$OUT/run.settings"
fi
SETTINGS="$SETTINGS" "$PY" - "$OUT/run.json" "$ROUNDS" "${TOY_WORLD_JSON:-}" <<'EOF'
# run.json: the settings, typed, and what the numbers depend on beyond them (library versions, threads)
import json, os, platform, sys
import numpy, tokenizers, torch, transformers

path, rounds, world_json = sys.argv[1], int(sys.argv[2]), sys.argv[3]
types = {"num_samples": int, "temperature": float, "off_policy": lambda v: v == "1", "seed": int,
         "corrupt_tests": float}
d = {k: types.get(k, str)(v) for k, v in (line.split("=", 1) for line in os.environ["SETTINGS"].splitlines() if line)}
d["rounds"] = rounds
env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
       "tokenizers": tokenizers.__version__, "numpy": numpy.__version__,
       "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "torch_threads": torch.get_num_threads()}
old = {}
if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        old = json.load(f)
d["environment"] = old.get("environment", env)
d["environment_changes"] = old.get("environment_changes", [])
if env != d["environment"] and env not in d["environment_changes"]:
    d["environment_changes"].append(env)
    changed = {k: f"{d['environment'].get(k)} -> {v}" for k, v in env.items() if d["environment"].get(k) != v}
    print(f"warning: {path}: this run was started in another environment ({changed}); the rounds run now are not "
          f"exactly comparable with the earlier ones (recorded in run.json)", file=sys.stderr)
if world_json:
    with open(world_json, encoding="utf-8") as f:
        w = json.load(f)
    d["toy_world"] = {"dir": os.path.dirname(world_json), "key": w["key"], "config": w["config"]}
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(d, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
EOF

# ---------------------------------------------------------------------------------------------------------------
# stages: skipped when done, resumed when partial

# The file each stage leaves when it finished; a marker without it means the folder was damaged.
output_of() {  # DIR STAGE
  case "$2" in
    01) echo "$1/tests.jsonl" ;; 01c) echo "$1/tests.corrupt.jsonl" ;; 02) echo "$1/samples.jsonl" ;;
    03) echo "$1/executions.jsonl" ;; 04) echo "$1/$PAIRS.jsonl" ;; 05) echo "$1/ckpt/final/config.json" ;;
    06) echo "$1/eval/results.json" ;; 06b) echo "$1/eval2/results.json" ;;
  esac
}

# A round folder is sound when every marker's output exists and no round has files while an earlier one is
# unfinished (a crash mid-write, a folder copied in part, two runs in one --out).
check_folder() {
  local k d s prev_done=1
  for d in "$OUT/tests" "$OUT"/round-*; do
    [[ -d $d ]] || continue
    for s in 01 01c 02 03 04 05 06 06b; do
      if [[ -f $d/.done/$s ]] && [[ ! -e $(output_of "$d" "$s") ]]; then
        die "$d: stage $s is marked done but $(output_of "$d" "$s") is missing (a damaged run folder);" \
            "delete $d/.done/$s (and the later stages' markers of that round) and rerun to redo stage $s"
      fi
    done
  done
  for ((k = 1; k <= ROUNDS + 5; k++)); do
    d="$OUT/round-$k"
    [[ -d $d ]] || { prev_done=0; continue; }
    if [[ $prev_done == 0 ]] && compgen -G "$d/*" >/dev/null; then
      die "$d has files but round $((k - 1)) never finished ($OUT/round-$((k - 1))/.done/05 missing); it was" \
          "left half-written by another run or a crash: delete $d and rerun to redo round $k"
    fi
    [[ -f $d/.done/05 ]] || prev_done=0
  done
}

# A checkpoint 02/05/06 will load: config and weights present and the config readable.
check_ckpt() {  # PATH ROUND
  [[ -d $1 ]] || return 0  # a hub id
  "$PY" -c 'import json,os,sys; p=sys.argv[1]; json.load(open(os.path.join(p,"config.json")));
assert any(f.endswith((".safetensors",".bin")) for f in os.listdir(p)), "no weights"' "$1" 2>/dev/null && return 0
  if [[ $2 -ge 1 ]]; then
    die "the checkpoint $1 does not load (config.json or weights missing or broken); delete $OUT/round-$2/ckpt" \
        "and $OUT/round-$2/.done/05 $OUT/round-$2/.done/06 and rerun to retrain round $2"
  fi
  die "--model $1 does not load (config.json or weights missing or broken); pass a Hugging Face model folder"
}

# While a stage runs, its output goes to its log and the terminal shows where that log is and the stage's last
# line (its progress line: the stages write plain lines into a log, common.progress): rewritten in place on a
# terminal, a line every PLUM_PROGRESS_EVERY seconds (default 60) otherwise (a batch log must not get a bar per
# second).
last_line() { tail -c 4000 "$1" 2>/dev/null | tr '\r' '\n' | grep -v '^\s*$' | tail -n 1 || true; }
progress() {  # LOG STAGE
  local log=$1 s=$2 t0=$SECONDS line
  if [[ -t 1 ]]; then
    while sleep 2 >/dev/null 2>&1; do
      line=$(last_line "$log"); printf '\r\033[K    %s [%d s] %s' "$s" $((SECONDS - t0)) "${line:0:$(( ${COLUMNS:-120} - 20 ))}"
    done
  else
    while sleep "${PLUM_PROGRESS_EVERY:-60}" >/dev/null 2>&1; do   # sleep off the pipe: a kill never waits on it
      echo "    $s still running [$((SECONDS - t0)) s]: $(last_line "$log" | cut -c1-200)"
    done
  fi
}
PROGRESS_PID=""
stop_progress() {
  [[ -n $PROGRESS_PID ]] || return 0
  kill "$PROGRESS_PID" 2>/dev/null || true; wait "$PROGRESS_PID" 2>/dev/null || true; PROGRESS_PID=""
  [[ -t 1 ]] && printf '\r\033[K'
  return 0
}
CURRENT=""
on_interrupt() {
  stop_progress
  echo >&2
  echo "interrupted${CURRENT:+ during $CURRENT}. What was written is kept: rerun the same command to resume" \
       "(finished stages are skipped, the interrupted one resumes)." >&2
  exit 130
}
trap on_interrupt INT TERM
trap stop_progress EXIT

stage() {  # DIR STAGE LABEL cmd...
  local dir=$1 s=$2 label=$3 t0=$SECONDS rc=0 log; shift 3
  log="$dir/logs/$s.log"
  if [[ -f $dir/.done/$s ]]; then echo "  $s $label: done, skipped"; return 0; fi
  mkdir -p "$dir/.done" "$dir/logs"
  echo "  $s $label: running, log $log"
  echo "+ $*" >> "$log"
  CURRENT="stage $s ($label, log $log)"
  progress "$log" "$s" & PROGRESS_PID=$!
  "$@" >> "$log" 2>&1 || rc=$?
  stop_progress
  if [[ $rc == 130 ]]; then on_interrupt; fi
  if [[ $rc != 0 ]]; then
    tail -n 15 "$log" | sed 's/\r/\n/g' | grep -v '^\s*$' | tail -n 8 >&2
    die "stage $s ($label) failed with exit $rc; its log is $log. Fix the cause and rerun the same" \
        "command: finished stages are skipped and this one resumes"
  fi
  CURRENT=""
  date -u +%FT%TZ > "$dir/.done/.$s.tmp" && mv "$dir/.done/.$s.tmp" "$dir/.done/$s"
  # each stage ends with a one-line summary: show it whole
  echo "  $s $label ($((SECONDS - t0)) s): $(last_line "$log")"
}

check_folder
check_ckpt "$MODEL" 0

# --- tests, once
mkdir -p "$OUT/tests"
TESTS_OUT="$OUT/tests/tests.jsonl"
echo "== tests ($TESTS)"
if [[ $TESTS == generated ]]; then
  # shellcheck disable=SC2086  # *_ARGS are word lists by design
  stage "$OUT/tests" 01 "tests written by $MODEL" "$PY" "$REPO/01_generate_tests.py" --model "$MODEL" \
    "${DATA_FLAGS[@]}" --output "$TESTS_OUT" --backend "$BACKEND" --seed "$SEED" $TOY_TESTS $TESTS_ARGS
else
  stage "$OUT/tests" 01 "reference tests from $TESTS_FILE" cp "$TESTS_FILE" "$TESTS_OUT"
fi
if [[ -n $CORRUPT ]]; then
  stage "$OUT/tests" 01c "corrupt $CORRUPT of the tests" "$PY" "$REPO/01_generate_tests.py" \
    --corrupt_from "$TESTS_OUT" --corrupt_share "$CORRUPT" --seed "$SEED" --output "$OUT/tests/tests.corrupt.jsonl"
  TESTS_OUT="$OUT/tests/tests.corrupt.jsonl"
fi

# --- round 0: the starting model on the benchmark
echo "== round 0 (the starting model)"
# shellcheck disable=SC2086
stage "$OUT/round-0" 06 "eval" "$PY" "$REPO/06_eval.py" --model "$MODEL" "${EVAL_FLAGS[@]}" \
  --output_dir "$OUT/round-0/eval" --backend "$BACKEND" --seed "$SEED" $TOY_GEN $EVAL_ARGS
if [[ -n $EVAL2_DATA ]]; then
  # shellcheck disable=SC2086
  stage "$OUT/round-0" 06b "eval on $EVAL2_DATA" "$PY" "$REPO/06_eval.py" --model "$MODEL" --benchmark jsonl \
    --data_path "$EVAL2_DATA" --output_dir "$OUT/round-0/eval2" --backend "$BACKEND" --seed "$SEED" $TOY_GEN $EVAL_ARGS
fi

# --- rounds
for ((r = 1; r <= ROUNDS; r++)); do
  R="$OUT/round-$r"; mkdir -p "$R"
  PREV="$MODEL"; [[ $r -gt 1 ]] && PREV="$OUT/round-$((r - 1))/ckpt/final"
  POLICY="$PREV"; [[ $OFF_POLICY == 1 ]] && POLICY="$MODEL"
  check_ckpt "$PREV" $((r - 1))
  echo "== round $r (samples from $POLICY)"
  # shellcheck disable=SC2086
  stage "$R" 02 "sample" "$PY" "$REPO/02_sample.py" --model "$POLICY" --input "$TESTS_OUT" \
    --output "$R/samples.jsonl" --num_samples "$NUM_SAMPLES" --temperature "$TEMPERATURE" \
    --seed $((SEED * 1000 + r)) --round "$r" --backend "$BACKEND" $TOY_GEN $SAMPLE_ARGS
  # shellcheck disable=SC2086
  stage "$R" 03 "execute" "$PY" "$REPO/03_execute.py" --samples "$R/samples.jsonl" --tests "$TESTS_OUT" \
    --output "$R/executions.jsonl" $EXEC_ARGS
  # shellcheck disable=SC2086
  stage "$R" 04 "build $PAIRS" "$PY" "$REPO/04_build_pairs.py" --executions "$R/executions.jsonl" \
    --samples "$R/samples.jsonl" --output "$R/$PAIRS.jsonl" --format "$PAIRS" --seed "$SEED" $PAIRS_ARGS
  # every round trains on from the last checkpoint against the frozen starting model (DESIGN.md: the reference)
  SAMPLER=(); [[ $LOSS == grpo ]] && SAMPLER=(--sampling_model "$POLICY")   # GRPO's ratio: against 02's model
  # shellcheck disable=SC2086
  stage "$R" 05 "train $LOSS" "$PY" "$REPO/05_train_kto.py" --model "$PREV" --ref_model "$MODEL" \
    --data "$R/$PAIRS.jsonl" --loss "$LOSS" --output_dir "$R/ckpt" --seed "$((SEED * 1000 + r))" --resume \
    "${SAMPLER[@]}" $TOY_TRAIN $TRAIN_ARGS
  check_ckpt "$R/ckpt/final" "$r"
  # shellcheck disable=SC2086
  stage "$R" 06 "eval" "$PY" "$REPO/06_eval.py" --model "$R/ckpt/final" "${EVAL_FLAGS[@]}" \
    --output_dir "$R/eval" --backend "$BACKEND" --seed "$SEED" $TOY_GEN $EVAL_ARGS
  if [[ -n $EVAL2_DATA ]]; then
    # shellcheck disable=SC2086
    stage "$R" 06b "eval on $EVAL2_DATA" "$PY" "$REPO/06_eval.py" --model "$R/ckpt/final" --benchmark jsonl \
      --data_path "$EVAL2_DATA" --output_dir "$R/eval2" --backend "$BACKEND" --seed "$SEED" $TOY_GEN $EVAL_ARGS
  fi
done

# ---------------------------------------------------------------------------------------------------------------
# summary: one row per round, a table and a PNG

"$PY" - "$OUT" "$ROUNDS" "$PAIRS" "$TESTS_OUT" "$REPO" <<'EOF'
import json, os, sys

out, rounds, pairs, tests_path, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


def jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


tests = jsonl(tests_path)
kept = sum(len(t["tests"]) for t in tests)
corrupted = sum(len(t.get("corrupted", [])) for t in tests)
validated = sum(bool(t.get("validated")) for t in tests)
rows = []
for r in range(rounds + 1):
    d = os.path.join(out, f"round-{r}")
    with open(os.path.join(d, "eval", "results.json"), encoding="utf-8") as f:
        res = json.load(f)
    ex = jsonl(os.path.join(d, "executions.jsonl"))
    ko = jsonl(os.path.join(d, f"{pairs}.jsonl"))
    row = {"round": r, "pass@1": res["pass@k"]["pass@1"], "problems": res.get("problems"),
           "samples": len(ex), "samples_passing": (sum(e["passed"] for e in ex) / len(ex)) if ex else None,
           "tasks_with_tests": len(tests), "kept_tests": kept, f"{pairs}_examples": len(ko) if r else None}
    if os.path.exists(os.path.join(d, "eval2", "results.json")):
        with open(os.path.join(d, "eval2", "results.json"), encoding="utf-8") as f:
            row["pass@1_eval2"] = json.load(f)["pass@k"]["pass@1"]
    if corrupted or "corrupted" in (tests[0] if tests else {}):
        row["corrupted_tests"] = corrupted   # each fails the reference: tests right = kept - corrupted
    row["tasks_validated"] = validated
    if pairs in ("kto", "grpo") and r:
        row["desirable"] = sum(bool(k["label"]) for k in ko)
    if pairs == "sft" and r:
        row["desirable"] = sum(bool(k["passed"]) for k in ko)
    if r:
        metrics = jsonl(os.path.join(d, "ckpt", "metrics.jsonl"))
        row["train_steps"] = max((m["step"] for m in metrics if "step" in m), default=None)
    rows.append(row)

tmp = os.path.join(out, ".summary.tmp")
with open(tmp, "w", encoding="utf-8") as f:
    f.writelines(json.dumps(row) + "\n" for row in rows)
os.replace(tmp, os.path.join(out, "summary.jsonl"))

ex_col = {"kto": "KTO examples (desirable)", "dpo": "DPO pairs", "sft": "SFT examples (passing)",
          "grpo": "GRPO samples (passing)"}[pairs]
two = any("pass@1_eval2" in row for row in rows)
lines = [f"| round | held-out pass@1 |{' second held-out pass@1 |' if two else ''} samples passing | kept tests (tasks) "
         f"| {ex_col} |", "|---|---|" + ("---|" if two else "") + "---|---|---|"]
for row in rows:
    sp = "-" if row["samples_passing"] is None else f"{row['samples_passing']:.1%} of {row['samples']}"
    ex = "-" if not row["round"] else (f"{row[pairs + '_examples']} ({row['desirable']})" if pairs != "dpo"
                                       else str(row["dpo_examples"]))
    e2 = f" {row['pass@1_eval2']:.1%} |" if "pass@1_eval2" in row else (" - |" if two else "")
    lines.append(f"| {row['round']} | {row['pass@1']:.1%} |{e2} {sp} | {row['kept_tests']} ({row['tasks_with_tests']}) | {ex} |")
table = "\n".join(lines) + "\n"
tmp = os.path.join(out, ".summary.md.tmp")
with open(tmp, "w", encoding="utf-8") as f:
    f.write(table)
os.replace(tmp, os.path.join(out, "summary.md"))
print(table, end="")

# pass_at_1.png: named by its benchmark and run, the y axis from 0 (plots.py)
sys.path.insert(0, repo)
import re
from plots import pass_at_1_plot

with open(os.path.join(out, "run.json"), encoding="utf-8") as f:
    run = json.load(f)


def bench_name(res, toy_label):
    """What a results.json scored, in a few words: the toy world's set, a benchmark's release, or a file's name."""
    n = res.get("problems")
    if run.get("toy_world"):
        return f"{toy_label} ({n} tasks)"
    if res.get("benchmark") == "jsonl":
        return f"{os.path.basename(res.get('data_path') or 'a tests file')} ({n} problems)"
    return re.sub(r"; sha256 [^)]*", "", res.get("version") or res.get("benchmark") or "?")


with open(os.path.join(out, "round-0", "eval", "results.json"), encoding="utf-8") as f:
    res0 = json.load(f)
series = {"held-out": [100 * row["pass@1"] for row in rows]}
if all("pass@1_eval2" in row for row in rows):
    with open(os.path.join(out, "round-0", "eval2", "results.json"), encoding="utf-8") as f:
        series[bench_name(json.load(f), "longer tasks")] = [100 * row["pass@1_eval2"] for row in rows]
settings = [f"loss {run.get('loss')}", f"seed {run.get('seed')}",
            "off-policy" if run.get("off_policy") else "on-policy",
            {"generated": "model-written tests", "reference": "reference tests"}.get(run.get("tests"), "tests")
            + (f", {run['corrupt_tests']:g} of them corrupted" if run.get("corrupt_tests") else ""),
            f"{run.get('num_samples')} samples per prompt at T {run.get('temperature'):g}"]
if not run.get("toy_world"):
    settings.insert(0, f"model {run.get('model')}")
settings += [f"{k} \"{run[k]}\"" for k in ("pairs_args", "train_args") if run.get(k)]
png = os.path.join(out, "pass_at_1.png")
pass_at_1_plot(series, png, bench_name(res0, "the toy world's held-out tasks"), out, ", ".join(settings),
               "one seed, so no spread is shown: rerun with other --seed values (or run_experiments.py, on the toy "
               "world) for mean ± sd")
print(f"pass@1 {100 * rows[0]['pass@1']:.1f}% -> {100 * rows[-1]['pass@1']:.1f}% after {rounds} round(s); "
      f"{os.path.join(out, 'summary.md')}, {os.path.join(out, 'pass_at_1.png')}")
EOF
