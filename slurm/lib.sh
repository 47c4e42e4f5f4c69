# Sourced by the slurm/*.sbatch scripts: where the repo is, shard flags from the array, shard checks before merges.
# sbatch copies a script to its spool folder, so the repo is found from $PLUM_REPO (set by submit_round.sh) or the
# folder sbatch was called from.
REPO="${PLUM_REPO:-${SLURM_SUBMIT_DIR:-$PWD}}"
PY="${PYTHON:-python}"
[[ -f $REPO/common.py ]] || { echo "error: $REPO is not the PLUM repo; export PLUM_REPO=/path/to/repo" >&2; exit 1; }

# PLUM_NEEDS="PATH:N PATH:N ...": every shard of each sharded output must exist before this job merges them.
check_needs() {
  local spec
  for spec in ${PLUM_NEEDS:-}; do
    bash "$REPO/slurm/check_shards.sh" "${spec%:*}" "${spec##*:}" || exit 1
  done
}

# Run a numbered script as one shard of an array: --shard_id is the array index, --num_shards the array's size
# (or $PLUM_NUM_SHARDS, so that one lost shard can be resubmitted alone with --array=K).
run_sharded() {
  local script=$1; shift
  check_needs
  if [[ -n ${SLURM_ARRAY_TASK_ID:-} ]]; then
    set -- "$@" --shard_id "$SLURM_ARRAY_TASK_ID" --num_shards "${PLUM_NUM_SHARDS:-$SLURM_ARRAY_TASK_COUNT}"
  fi
  echo "+ $PY $REPO/$script $*"
  exec "$PY" "$REPO/$script" "$@"
}

run_single() {
  local script=$1; shift
  check_needs
  echo "+ $PY $REPO/$script $*"
  exec "$PY" "$REPO/$script" "$@"
}
