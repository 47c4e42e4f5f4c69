# The toy world's pipeline settings, one copy, read by plum_round.py for run_plum.sh and slurm/submit_round.sh
# (NAME=value lines; chosen on seed 0).
# 4 sampled test completions per task (not 1 greedy) keep tests for ~2/3 of the tasks instead of 2/5. A tiny model
# learns at learning rates a 7B model would not survive, but 2e-4 x 2 epochs a round drifted and lost round 1's gain
# by round 3; 5e-5 x 1 epoch a round gained 16.7 +- 1.4 points over 3 seeds (docs/toy-world.md; notes/loop.md has the tuning).
TOY_TEMPERATURE=1.0
TOY_TESTS="--num_tests 4 --max_new_tokens 160 --num_samples 4 --temperature 0.8"
TOY_GEN="--max_new_tokens 96"
TOY_TRAIN="--lr 5e-5 --epochs 1 --batch_size 16 --save_every 50 --max_length 512"
