"""slurm/: a real single-node Slurm (Debian's slurm-wlm + munge) started on localhost by the test runs one PLUM round
as 3-way arrays with afterok dependencies to completion, every shard merged; a shard missing from a merge names the
shard and the command that redoes it. That the jobs are run_plum.sh's stages, and submit_round.sh --local, are
tested in seconds in tests/test_plum_round.py.

Skipped, with the reason, where slurmctld/slurmd/munged are not installed or cannot start (CI installs them).
"""

import glob
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from test_run_plum import micro_world

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBMIT = os.path.join(REPO, "slurm", "submit_round.sh")


def _start_slurm(d):
    """munged, slurmctld and slurmd on localhost, all files under d; returns the environment for the clients."""
    for exe in ("munged", "slurmctld", "slurmd", "sbatch"):
        if shutil.which(exe) is None:
            pytest.skip(f"{exe} not installed (apt-get install slurm-wlm munge)")
    if os.geteuid() != 0:
        pytest.skip("a private slurmd needs root here (it runs jobs as their owners)")
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool", "log"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    with open(os.path.join(d, "munge.key"), "wb") as f:
        f.write(os.urandom(1024))
    os.chmod(os.path.join(d, "munge.key"), 0o600)
    sock = os.path.join(d, "munge.sock")
    subprocess.run(["munged", "-f", f"--socket={sock}", f"--key-file={d}/munge.key", f"--pid-file={d}/munged.pid",
                    f"--log-file={d}/log/munged.log", f"--seed-file={d}/munge.seed"], check=True, capture_output=True)
    base = 20000 + os.getpid() % 20000  # ports of their own, so a second run or a real cluster does not collide
    conf = f"""ClusterName=plumtest
SlurmctldHost={host}
SlurmctldPort={base}
SlurmdPort={base + 1}
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MinJobAge=600
NodeName={host} CPUs={os.cpu_count()} RealMemory=2000 State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""
    with open(os.path.join(d, "slurm.conf"), "w") as f:
        f.write(conf)
    env = dict(os.environ, SLURM_CONF=os.path.join(d, "slurm.conf"))
    for daemon in (["slurmctld", "-i"], ["slurmd"]):
        p = subprocess.run(daemon, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"{daemon[0]} did not start: {p.stderr.strip()[-300:]}")
    for _ in range(100):
        p = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip() in ("idle", "mix", "alloc"):
            return env
        time.sleep(0.2)
    pytest.skip(f"the local Slurm node never became idle: {p.stdout.strip()} {p.stderr.strip()}")


def _stop(d):
    for pid_file in ("slurmd.pid", "slurmctld.pid", "munged.pid"):
        try:
            pid = int(open(os.path.join(d, pid_file)).read().split()[0])
            os.kill(pid, 15)  # only the daemons this test started, by their pid files
        except (OSError, ValueError):
            pass


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("slurm"))
    try:
        yield _start_slurm(d)
    finally:
        _stop(d)


def _args(w, out):
    return ["bash", SUBMIT, "--out", out, "--model", w["model"], "--data", w["instr"], "--benchmark", "jsonl",
            "--eval_data", w["tests"], "--tests", "reference", "--tests_file", w["tests"], "--rounds", "1",
            "--shards", "3", "--num_samples", "4", "--temperature", "0.5", "--seed", "1",
            "--sample_args", "--max_new_tokens 24", "--exec_args", "--workers 1",
            "--eval_args", "--max_new_tokens 24 --workers 1", "--train_args", "--lr 1e-3 --batch_size 8 --no_plot"]


def _records(out, pattern):
    recs = []
    for p in sorted(glob.glob(os.path.join(out, pattern))):
        with open(p) as f:
            recs += [json.loads(x) for x in f if x.strip()]
    return recs


def test_slurm_round_runs_to_the_end_with_every_shard(slurm, tmp_path):
    w = micro_world(str(tmp_path / "world"))
    sl = str(tmp_path / "slurm")
    p = subprocess.run(_args(w, sl), env=slurm, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    last = p.stdout.strip().rsplit("job ", 1)[1].rstrip(")")
    deadline = time.time() + 900
    while time.time() < deadline:
        q = subprocess.run(["squeue", "-h", "-o", "%i %T %r"], env=slurm, capture_output=True, text=True).stdout
        if not q.strip():
            break
        assert "DependencyNeverSatisfied" not in q, (q, open(glob.glob(os.path.join(sl, "slurm", "*"))[0]).read())
        time.sleep(1)
    state = subprocess.run(["scontrol", "show", "job", last], env=slurm, capture_output=True, text=True).stdout
    assert "JobState=COMPLETED" in state, state
    # three shards per array stage; the merges saw every record: 6 tasks x 4 samples, each executed once
    r1 = os.path.join(sl, "round-1")
    for stem in ("samples", "executions"):
        assert len(glob.glob(os.path.join(r1, f"{stem}.shard-*-of-00003.jsonl"))) == 3
    samples, execs = _records(sl, "round-1/samples.shard-*.jsonl"), _records(sl, "round-1/executions.shard-*.jsonl")
    assert len(samples) == 24 and sorted((e["task_id"], e["sample_id"]) for e in execs) == sorted(
        (s["task_id"], s["sample_id"]) for s in samples)
    assert _records(sl, "round-1/kto.jsonl") and os.path.exists(os.path.join(r1, "ckpt", "final", "config.json"))
    for r in (0, 1):   # 06 over 3 shards, then --merge
        res = json.load(open(os.path.join(sl, f"round-{r}", "eval", "results.json")))
        assert res["num_shards"] == 3 and res["problems"] == 6 and 0 <= res["pass@k"]["pass@1"] <= 1


def test_missing_shard_names_it_and_the_command_that_redoes_it(tmp_path):
    """No Slurm needed: the check every merging job runs first."""
    name = str(tmp_path / "samples.jsonl")
    for k in (0, 2):
        open(str(tmp_path / f"samples.shard-{k:05d}-of-00003.jsonl"), "w").write("{}\n")
    open(name + ".submit", "w").write(f"{REPO}/slurm/02_sample.sbatch --model M --output {name}")
    p = subprocess.run(["bash", os.path.join(REPO, "slurm", "check_shards.sh"), name, "3"],
                       capture_output=True, text=True)
    assert p.returncode == 1
    assert "shard 1 of 3" in p.stderr and "samples.shard-00001-of-00003.jsonl" in p.stderr
    assert "PLUM_NUM_SHARDS=3 sbatch --array=1 " in p.stderr and "02_sample.sbatch --model M" in p.stderr
    open(str(tmp_path / "samples.shard-00001-of-00003.jsonl"), "w").write("{}\n")
    assert subprocess.run(["bash", os.path.join(REPO, "slurm", "check_shards.sh"), name, "3"]).returncode == 0


def test_merging_job_refuses_a_missing_shard(tmp_path):
    """A 04 job whose inputs lack a shard fails before 04 runs, so the merge never drops records silently."""
    r = tmp_path / "r"
    r.mkdir()
    for stem in ("samples", "executions"):
        for k in (0, 1):
            (r / f"{stem}.shard-{k:05d}-of-00003.jsonl").write_text("")
    env = dict(os.environ, PLUM_REPO=REPO, PLUM_NEEDS=f"{r}/samples.jsonl:3 {r}/executions.jsonl:3")
    p = subprocess.run(["bash", os.path.join(REPO, "slurm", "04_build_pairs.sbatch"), "--samples", "x",
                        "--executions", "y", "--output", str(r / "kto.jsonl")], env=env, capture_output=True, text=True)
    assert p.returncode == 1 and "shard 2 of 3" in p.stderr and not (r / "kto.jsonl").exists()
