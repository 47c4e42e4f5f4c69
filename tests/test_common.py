"""common.py: the JSONL, resume and sharding rules every stage relies on."""

import gzip
import json
import os

import pytest

import common


def test_read_jsonl_names_file_and_line_of_a_malformed_record(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"task_id": "a"}\n{"task_id": \n{"task_id": "c"}\n')
    with pytest.raises(common.InputError, match=r"x\.jsonl:2: not valid JSON"):
        list(common.read_jsonl(str(p)))


def test_read_jsonl_missing_key_and_non_object(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"task_id": "a"}\n{"other": 1}\n')
    with pytest.raises(common.InputError, match=r"x\.jsonl:2: record lacks key\(s\) \['task_id'\]"):
        list(common.read_jsonl(str(p), required=("task_id",)))
    p.write_text('[1, 2]\n')
    with pytest.raises(common.InputError, match=r"x\.jsonl:1: expected a JSON object"):
        list(common.read_jsonl(str(p)))


def test_read_jsonl_non_utf8_and_missing_file(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": "\xff\xfe"}\n')
    with pytest.raises(common.InputError, match="not UTF-8"):
        list(common.read_jsonl(str(p)))
    with pytest.raises(common.InputError, match="no such file"):
        list(common.read_jsonl(str(tmp_path / "nope.jsonl")))
    with pytest.raises(common.InputError, match="glob matches no file"):
        list(common.read_jsonl(str(tmp_path / "nope.*.jsonl")))


def test_read_jsonl_gz_and_glob_in_sorted_order(tmp_path):
    for i in (1, 0):
        with gzip.open(tmp_path / f"s.shard-{i:05d}-of-00002.jsonl.gz", "wt") as f:
            f.write(json.dumps({"i": i}) + "\n")
    recs = list(common.read_jsonl(str(tmp_path / "s.shard-*.jsonl.gz")))
    assert [r["i"] for r in recs] == [0, 1]


def test_killed_writer_leaves_a_partial_line_that_resume_cuts(tmp_path):
    p = str(tmp_path / "out.jsonl")
    with common.JsonlWriter(p) as w:
        w.write({"task_id": "a", "sample_id": 0})
        w.write({"task_id": "a", "sample_id": 1})
    with open(p, "a") as f:
        f.write('{"task_id": "a", "sam')  # the writer died here
    assert common.done_keys(p, ("task_id", "sample_id")) == {("a", 0), ("a", 1)}
    with common.JsonlWriter(p) as w:
        w.write({"task_id": "a", "sample_id": 2})
    lines = open(p).read().splitlines()
    assert [json.loads(x)["sample_id"] for x in lines] == [0, 1, 2]


def test_overwrite_starts_afresh(tmp_path):
    p = str(tmp_path / "out.jsonl")
    with common.JsonlWriter(p) as w:
        w.write({"k": 1})
    with common.JsonlWriter(p, overwrite=True) as w:
        w.write({"k": 2})
    assert [json.loads(x) for x in open(p)] == [{"k": 2}]


def test_shard_names_selection_and_slurm_defaults(monkeypatch):
    assert common.shard_path("out/samples.jsonl", 3, 16) == "out/samples.shard-00003-of-00016.jsonl"
    assert common.shard_path("out/samples.jsonl", 0, 1) == "out/samples.jsonl"
    items = list(range(10))
    shards = [list(common.select_shard(items, s, 3)) for s in range(3)]
    assert sorted(sum(shards, [])) == items and shards[1] == [1, 4, 7]

    class A:
        shard_id = None
        num_shards = None
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert common.resolve_shard(A()) == (2, 3)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")  # --array=1-3 is 1-based
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    assert common.resolve_shard(A()) == (2, 3)
    A.shard_id, A.num_shards = 5, 3
    with pytest.raises(common.InputError):
        common.resolve_shard(A())


def test_write_args_and_atomic_write(tmp_path):
    out = str(tmp_path / "exec.jsonl")
    common.write_args(out, {"workers": 2})
    d = json.load(open(tmp_path / "exec.args.json"))
    assert d["workers"] == 2 and "argv" in d
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp-")]
