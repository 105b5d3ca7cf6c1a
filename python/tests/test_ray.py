"""zkml.ray on a local two-worker Ray instance: 256 rows, a worker killed mid-run, errors."""

import os
from pathlib import Path

import numpy as np
import pytest

import zkml

ray = pytest.importorskip("ray")
import zkml.ray as zray  # noqa: E402


@pytest.fixture(scope="module")
def marker(tmp_path_factory) -> Path:
    """The kill-once marker: set before Ray starts so that its workers inherit it."""
    path = tmp_path_factory.mktemp("ray") / "killed"
    os.environ[zray.KILL_ONCE_ENV] = str(path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield path
    ray.shutdown()
    del os.environ[zray.KILL_ONCE_ENV]


@pytest.fixture(scope="module")
def rows256(digits) -> np.ndarray:
    x = np.concatenate([digits, digits[::-1], digits])[:256]
    return x + np.linspace(0, 1, 256)[:, None]  # no two rows alike


def test_a_killed_worker_loses_no_rows(marker, pk, rows256):
    assert not marker.exists()
    proofs = zray.prove_many(pk, rows256, rows_per_proof=64, max_retries=2)
    # the first task's worker killed itself: its chunk was proven again by another worker
    assert marker.exists()
    pid = int(marker.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert [p.num_samples for p in proofs] == [64] * 4
    expected = pk.run(rows256)
    y = zray.verify_many(pk.vk, proofs, inputs=rows256)
    np.testing.assert_array_equal(y, expected)
    for k, proof in enumerate(proofs):  # in order, each on its own rows
        part = slice(64 * k, 64 * (k + 1))
        np.testing.assert_array_equal(zkml.verify(pk.vk, proof, inputs=rows256[part]), expected[part])


def test_uneven_chunks_and_one_row(marker, pk, digits):
    proofs = zray.prove_many(pk, digits[:10], rows_per_proof=4)
    assert [p.num_samples for p in proofs] == [4, 4, 2]
    named = zray.verify_many(pk, proofs, by_name=True)
    np.testing.assert_array_equal(next(iter(named.values())), pk.run(digits[:10]))
    (single,) = zray.prove_many(pk, digits[0])
    assert single.num_samples == 1


def test_refusals(marker, pk, digits):
    proofs = zray.prove_many(pk, digits[:8], rows_per_proof=4)
    with pytest.raises(zkml.VerificationError, match="proof 1: .*not the quantization"):
        zray.verify_many(pk.vk, proofs, inputs=np.concatenate([digits[:4], digits[5:9]]))
    with pytest.raises(zkml.VerificationError, match="the proofs hold 8 rows, the inputs 7"):
        zray.verify_many(pk.vk, proofs, inputs=digits[:7])
    data = bytearray(proofs[1].to_bytes())
    data[len(data) // 2] ^= 1
    try:
        tampered = zkml.Proof.from_bytes(bytes(data))
    except zkml.ZkmlError:
        return
    with pytest.raises(zkml.VerificationError, match="proof 1"):
        zray.verify_many(pk.vk, [proofs[0], tampered])


def test_bad_inputs_fail_before_any_task(marker, pk):
    with pytest.raises(zkml.InputError, match=r"\(n, 64\)"):
        zray.prove_many(pk, np.zeros((4, 63)))
    with pytest.raises(ValueError, match="rows_per_proof"):
        zray.prove_many(pk, np.zeros((4, 64)), rows_per_proof=0)
    with pytest.raises(zkml.InputError, match="not a finite number"):
        zray.prove_many(pk, np.full((4, 64), np.inf))


def test_an_error_in_a_task_comes_back_as_itself(marker):
    # a model with a fixed batch of 4 takes proofs of exactly 4 rows
    with pytest.warns(UserWarning):
        pk = zkml.setup(Path(__file__).parents[2] / "assets" / "models" / "mlp_batch4.onnx")
    rows = np.zeros((8, 10))
    assert [p.num_samples for p in zray.prove_many(pk, rows, rows_per_proof=4)] == [4, 4]
    with pytest.raises(zkml.ZkmlError, match="fixed batch of 4 samples, got 3") as e:
        zray.prove_many(pk, rows, rows_per_proof=3)
    assert type(e.value) is not zkml.InternalError


def test_zkml_ray_without_its_own_import():
    assert zkml.ray is zray


def test_pickled_objects_cross_ray(marker, pk, digits):
    @ray.remote
    def check(key, proof, x):
        return zkml.verify(key, proof, inputs=x)

    proof = pk.prove(digits[:3])
    y = ray.get(check.remote(pk.vk, proof, digits[:3]))
    np.testing.assert_array_equal(y, pk.run(digits[:3]))
