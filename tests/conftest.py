import gzip
import json
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")


def pytest_configure(config):
    # One intra-op thread for torch, here and in the processes the tests start (run_plum.sh does the same), unless
    # the caller sets it: the models are tiny, so a second thread adds synchronisation rather than speed, and many
    # tests run two processes (torchrun, a killed stage and its rerun, Slurm jobs) on a 2-core machine, where two
    # threads each oversubscribe it. Measured: test_train_dist + a KTO training test 50 s -> 33 s on 2 busy cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def shared_data(*parts):
    """Path into ../shared/data, or skip the test with the reason when that folder is absent."""
    p = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(p):
        pytest.skip(f"{p} not present (tests read ../shared/data when it exists)")
    return p


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A randomly initialised 2-layer, 64-wide Llama with an offline BPE tokenizer (no chat template)."""
    from tinylm import build_tiny_model
    return build_tiny_model(str(tmp_path_factory.mktemp("tiny") / "model"))


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory):
    """The same tiny Llama with a ChatML chat template on its tokenizer."""
    from tinylm import build_tiny_model
    return build_tiny_model(str(tmp_path_factory.mktemp("tinychat") / "model"), chat=True)


@pytest.fixture(scope="module")
def vllm_module():
    """vllm, imported for one test module, or the test skipped with the reason it does not import. vLLM's import
    and its CPU engine set process-wide environment variables (LD_PRELOAD, LD_LIBRARY_PATH, LOCAL_WORLD_SIZE, thread
    counts) that later tests' subprocesses would inherit: os.environ is put back as it was afterwards."""
    saved = dict(os.environ)
    try:
        import vllm
    except Exception as e:   # ImportError, or a broken build (e.g. a CUDA torchvision beside a CPU torch)
        pytest.skip(f"vllm does not import here ({type(e).__name__}: {e})")
    yield vllm
    os.environ.clear()
    os.environ.update(saved)


def write_jsonl(path, rows, gz=False):
    """Write rows as JSONL (gzip-compressed with gz=True); returns the path."""
    with (gzip.open if gz else open)(path, "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
