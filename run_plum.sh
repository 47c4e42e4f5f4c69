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
#   --off_policy_model M (every round samples from another model M instead: the paper's off-policy data came from
#   other models; implies --off_policy)
#   --tests generated|reference [generated] (reference: the instruction set's own tests, --tests_file)
#   --model M [toy SFT model] --data D (01's --dataset: mbpp, leetcode, a HF name, or a JSONL file) [toy train set]
#   --tests_file T (tests.jsonl-shaped, for --tests reference) --benchmark B [toy: jsonl] --eval_data P
#   --backend hf|vllm [hf] --seed S [0] --out DIR [runs/plum]
#   --tests_args/--sample_args/--exec_args/--pairs_args/--train_args/--eval_args "..."  extra flags for one stage
#   --eval2_args "..."  extra flags of the --eval2_data evaluation only (after --eval_args: e.g. "--num_samples 8
#   --temperature 0.8" scores the same benchmark by pass@1 from 8 samples beside greedy)
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
#
# The stages, their commands and files are defined once in plum_round.py, which runs them here and gives
# slurm/submit_round.sh the same stages as jobs; `python plum_round.py stages FLAGS` prints the commands a run
# would run.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" "$REPO/plum_round.py" local "$@"
