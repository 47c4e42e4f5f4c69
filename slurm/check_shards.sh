#!/usr/bin/env bash
# Before a merge by glob: every shard NAME.shard-0000K-of-0000N.jsonl of NAME.jsonl must exist, or the merge would
# silently drop a shard's records. Names the missing shards and the command that redoes each.
#   bash slurm/check_shards.sh runs/r1/samples.jsonl 3
set -euo pipefail
name=$1; n=$2
root="${name%.jsonl}"
missing=()
for ((k = 0; k < n; k++)); do
  f=$(printf '%s.shard-%05d-of-%05d.jsonl' "$root" "$k" "$n")
  [[ -f $f ]] || missing+=("$k")
done
[[ ${#missing[@]} == 0 ]] && exit 0
cmd="the array job that writes $name"
[[ -f $name.submit ]] && cmd="PLUM_NUM_SHARDS=$n sbatch --array=K $(cat "$name.submit")"
for k in "${missing[@]}"; do
  printf 'error: shard %d of %d of %s is missing (%s.shard-%05d-of-%05d.jsonl); its array task failed or was ' \
    "$k" "$n" "$name" "$root" "$k" "$n" >&2
  echo "never run. Redo it: ${cmd//--array=K/--array=$k}, then resubmit this job" >&2
done
exit 1
