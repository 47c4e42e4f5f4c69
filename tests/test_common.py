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


def test_check_writable_names_what_is_in_the_way(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    common.check_writable(str(tmp_path / "new" / "deeper" / "out.jsonl"), "--output")   # made later: fine
    common.check_writable(str(tmp_path / "new"), "--output_dir", folder=True)
    with pytest.raises(common.InputError, match=r"--output .*f\.txt is a file, not a folder; pick another --output"):
        common.check_writable(str(tmp_path / "f.txt" / "a" / "out.jsonl"), "--output")
    with pytest.raises(common.InputError, match=r"--output_dir .*f\.txt: is a file, not a folder"):
        common.check_writable(str(tmp_path / "f.txt"), "--output_dir", folder=True)
    with pytest.raises(common.InputError, match=r"is a folder; give --output a file name in it"):
        common.check_writable(str(tmp_path), "--output")


def test_give_open_mode_sets_what_open_would(tmp_path):
    d = tmp_path / "ckpt"
    (d / "sub").mkdir(parents=True)
    for p in (d / "w.safetensors", d / "sub" / "x.json"):
        p.write_text("x")
        os.chmod(p, 0o600)
    os.chmod(d / "sub", 0o700)
    old = os.umask(0o002)
    try:
        common.give_open_mode(str(d))
    finally:
        os.umask(old)
    assert [oct(os.stat(p).st_mode & 0o777) for p in (d, d / "sub", d / "w.safetensors", d / "sub" / "x.json")] \
        == ["0o775", "0o775", "0o664", "0o664"]


def test_run_stage_undoes_what_a_run_that_wrote_no_record_left(tmp_path):
    """A failed run that wrote no record: its args.json goes (an earlier one comes back), an output it created
    empty goes, an output that was there stays. A failed run that wrote a record keeps everything."""
    new, old = str(tmp_path / "new.jsonl"), str(tmp_path / "old.jsonl")
    with open(old, "w") as f:
        f.write('{"k": 1}\n')
    (tmp_path / "old.args.json").write_text('{"earlier": true}\n')

    def fails(records):
        def main():
            common.write_args(new, {"a": 1})
            common.write_args(old, {"a": 2})
            with common.JsonlWriter(new) as w, common.JsonlWriter(old):
                for _ in range(records):
                    w.write({"k": 2})
            raise common.InputError("bad input")
        return main

    with pytest.raises(SystemExit) as e:
        common.run_stage(fails(0), "test")
    assert e.value.code == 1
    assert sorted(os.listdir(tmp_path)) == ["old.args.json", "old.jsonl"]
    assert (tmp_path / "old.args.json").read_text() == '{"earlier": true}\n'
    assert open(old).read() == '{"k": 1}\n'
    with pytest.raises(SystemExit):
        common.run_stage(fails(1), "test")
    assert sorted(os.listdir(tmp_path)) == ["new.args.json", "new.jsonl", "old.args.json", "old.jsonl"]
    assert json.load(open(tmp_path / "old.args.json"))["a"] == 2


def test_read_json_records_checks_required_keys(tmp_path):
    p = tmp_path / "rows.json"
    p.write_text(json.dumps([{"task_id": 1, "text": "t"}, {"task_id": 2}]))
    assert len(common.read_json_records(str(p), required=("task_id",))) == 2
    with pytest.raises(common.InputError, match=r"rows\.json: record 2 of the array: record lacks key\(s\) \['text'\]"):
        common.read_json_records(str(p), required=("task_id", "text"))
    p.write_text(json.dumps([{"task_id": 1}, 3]))
    with pytest.raises(common.InputError, match=r"record 2 of the array: expected a JSON object"):
        common.read_json_records(str(p))
