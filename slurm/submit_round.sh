#!/usr/bin/env bash
# Submit a PLUM run to Slurm as a chain of jobs (each waits for the last with --dependency=afterok): the stages of
# run_plum.sh, with the same flags, commands and folder layout (plum_round.py defines them once):
#   01 (an array; --tests reference: the copy, at once) [-> 01c] -> 06 of the starting model [-> 06b]
#   then per round: 02 array -> 03 array -> 04 -> 05 torchrun -> 06 [-> 06b]
# 01, 02, 03 and 06 run as arrays over --shards; the stages after an array read its shards by glob, and every merging
# job first checks that all shards exist (slurm/check_shards.sh); 06's shards are scored by a `06 --merge` job.
#
#   bash slurm/submit_round.sh --model M --data mbpp --benchmark mbpp_plus --out runs/slurm --rounds 3 --shards 8 \
#       --gpu_args "--gres=gpu:1" --train_args "--lr 5e-7" --nproc 8
#   bash slurm/submit_round.sh ... --local        # the same jobs, one after the other in this shell (no Slurm)
#   bash slurm/submit_round.sh --out runs/slurm-toy --shards 3   # the toy world (built first, here), as run_plum.sh
#   python plum_round.py slurm FLAGS...           # the job plan this script submits, printed
#
# Flags: every flag of run_plum.sh (bash run_plum.sh --help: --rounds, --loss kto|dpo|sft|grpo, --off_policy,
#   --tests, --corrupt_tests, --eval2_data, --backend, --*_args ...), with its defaults, and (defaults in brackets):
#   --shards [3] (array size of 01, 02, 03, 06; a setting of the run: shards draw other random streams than one
#   process) --first_round [1] (submit rounds first_round..rounds only: the earlier ones finished; the checkpoint of
#   round first_round-1 is the policy) --nproc [1] (torchrun processes for 05) --sbatch_args "..." (every job:
#   --partition, --time, --account) --gpu_args "..." (the model jobs 01/02/05/06: --gres=gpu:1) --local
#   --toy (the toy world, as without --model)
#
# Writes run_plum.sh's layout (run.settings, run.json, OUT/tests, OUT/round-K with {samples,executions}.shard-*.jsonl,
# kto.jsonl, ckpt/, eval/ with 06's shard files and results.json), plus OUT/slurm/ (job logs) and NAME.submit beside
# each sharded output (the command check_shards.sh suggests to redo a lost shard); no .done markers, logs/ or
# summary. Prints the job ids; the last one finishing means the chain is done.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
die() { echo "error: $*" >&2; exit 1; }

# the plan: the flags parsed and the run's settings resolved and pinned (run.settings) by plum_round.py, then one
# line of shell words per job (plum_round.slurm_plan)
PLAN=$("$PY" "$REPO/plum_round.py" slurm "$@") || exit $?
SHARDS=""; NPROC=""; SBATCH_ARGS=""; GPU_ARGS=""; LOCAL=""; OUT=""

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
          bash "$REPO/slurm/$script" "$@" > "$OUT/slurm/$name-local_$k.out" 2>&1 < /dev/null || rc=$?
      else
        env PLUM_REPO="$REPO" PLUM_NEEDS="$needs" bash "$REPO/slurm/$script" "$@" \
          > "$OUT/slurm/$name-local.out" 2>&1 < /dev/null || rc=$?
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
  LAST=$(sbatch "${opts[@]}" $SBATCH_ARGS $res "$REPO/slurm/$script" "$@" < /dev/null) || die "sbatch refused $name"
  LAST=${LAST%%;*}
  echo "  $name: job $LAST"
}

# the command that redoes one shard of a sharded output, for check_shards.sh's message
remember() {  # OUTPUT RESOURCES SCRIPT ARGS...
  local out=$1 res=$2 script=$3; shift 3
  # shellcheck disable=SC2086
  printf '%s ' $SBATCH_ARGS $res "$REPO/slurm/$script" > "$out.submit"
  printf '%q ' "$@" >> "$out.submit"
}

# ---------------------------------------------------------------------------------------------------------------
# the chain

started=0
while IFS= read -r -u 3 line; do
  eval "w=($line)"   # plum_round.py quotes every word (shlex.quote)
  case ${w[0]} in
    set) printf -v "${w[1]}" '%s' "${w[2]}" ;;
    say) echo "${w[1]}" ;;
    end) exit 0 ;;
    now) "${w[@]:1}" || die "${w[*]:1} failed" ;;
    job)
      if [[ $started == 0 ]]; then
        [[ $LOCAL == 1 ]] || command -v sbatch >/dev/null || die "sbatch not found: run on a Slurm login node, or pass --local"
        mkdir -p "$OUT/slurm"
        export PLUM_NPROC="$NPROC"  # torchrun processes of 05 (slurm/05_train_kto.sbatch reads it)
        started=1
      fi
      res=""; [[ ${w[4]} == gpu ]] && res=$GPU_ARGS
      [[ ${w[6]} == - ]] || remember "${w[6]}" "$res" "${w[5]}" "${w[@]:7}"
      submit "${w[1]}" "${w[2]}" "${w[3]}" "$res" "${w[5]}" "${w[@]:7}" ;;
    *) die "plum_round.py gave an unknown plan line: $line" ;;
  esac
done 3<<< "$PLAN"
echo "submitted; results in $OUT/round-*/eval/results.json${LAST:+ (the chain ends with job $LAST)}"
