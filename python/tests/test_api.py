"""The zkml package: round trips, the CLI's files, dtypes and shapes, errors."""

import os
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import zkml
from conftest import FIXTURES, MLP, MODELS, ROOT, rows

CLI = ROOT / "target" / "release" / "zkml"


def test_prove_verify_round_trip(pk, digits):
    x = digits[:16]
    proof = pk.prove(x)
    assert proof.num_samples == 16
    assert proof.key_digest == pk.vk.digest
    y = zkml.verify(pk.vk, proof, inputs=x)
    assert y.dtype == np.float32 and y.shape == (16, 10)
    np.testing.assert_array_equal(y, pk.run(x))
    # and through bytes, as files travel
    again = zkml.Proof.from_bytes(proof.to_bytes())
    np.testing.assert_array_equal(zkml.verify(pk.vk, again), y)


def test_public_weights(pk, calibration, digits):
    public = zkml.setup(MLP, calibration=calibration, public_weights=True)
    assert public.vk.digest != pk.vk.digest
    x = digits[:4]
    proof = public.prove(x)
    y = zkml.verify(public.vk, proof, inputs=x)
    np.testing.assert_array_equal(y, zkml.verify(pk.vk, pk.prove(x)))
    assert len(proof.to_bytes()) < len(pk.prove(x).to_bytes())
    with pytest.raises(zkml.VerificationError):
        zkml.verify(pk.vk, proof)


def test_run_is_accurate(pk, digits):
    reference = rows(MODELS / "digits_mlp_5x100_test.json", "output_data")
    y = pk.run(digits)
    assert (y.argmax(1) == reference.argmax(1)).mean() >= 0.95


def test_keys_save_and_load(pk, digits, tmp_path):
    pk_path, vk_path = pk.save(tmp_path / "keys")
    assert (pk_path.name, vk_path.name) == ("model.pk", "model.vk")
    pk2 = zkml.ProvingKey.load(pk_path)
    vk2 = zkml.VerifyingKey.load(tmp_path / "keys")  # a directory holding model.vk
    assert vk2.digest == pk.vk.digest == pk2.vk.digest
    assert pk2.to_bytes() == pk.to_bytes()
    proof = pk2.prove(digits[:4])
    np.testing.assert_array_equal(zkml.verify(vk2, proof), pk.run(digits[:4]))
    proof.save(tmp_path / "proof.bin")
    assert zkml.Proof.load(tmp_path / "proof.bin").to_bytes() == proof.to_bytes()


def test_pickle(pk, proof):
    pk2 = pickle.loads(pickle.dumps(pk))
    vk2 = pickle.loads(pickle.dumps(pk.vk))
    proof2 = pickle.loads(pickle.dumps(proof))
    assert pk2.vk.digest == vk2.digest == pk.vk.digest
    np.testing.assert_array_equal(zkml.verify(vk2, proof2), zkml.verify(pk.vk, proof))


@pytest.mark.skipif(not CLI.exists(), reason="no target/release/zkml (cargo build --release)")
def test_same_files_as_the_cli(pk, digits, tmp_path):
    # the CLI's setup with the same calibration makes the same key (the key proof's bytes
    # may differ from run to run: its proof-of-work nonce is searched in parallel)
    calib = MODELS / "digits_mlp_5x100_calibration.json"
    subprocess.run(
        [CLI, "setup", MLP, "--out", tmp_path / "cli", "--calibration", calib],
        check=True, capture_output=True,
    )
    cli_pk = zkml.ProvingKey.load(tmp_path / "cli" / "model.pk")
    assert zkml.VerifyingKey.load(tmp_path / "cli").digest == cli_pk.vk.digest == pk.vk.digest
    # the CLI proves with keys saved here, and verifies the proof with them
    pk.save(tmp_path / "py")
    inputs = MODELS / "digits_mlp_5x100_input.json"
    subprocess.run(
        [CLI, "prove", "--pk", tmp_path / "py" / "model.pk", "--input", inputs,
         "--proof", tmp_path / "cli.proof"],
        check=True, capture_output=True,
    )
    x = rows(inputs)
    y = zkml.verify(cli_pk.vk, zkml.Proof.load(tmp_path / "cli.proof"), inputs=x)
    np.testing.assert_array_equal(y, pk.run(x))
    # and verifies a proof made here, with the key the CLI wrote and the input file
    pk.prove(x).save(tmp_path / "py.proof")
    done = subprocess.run(
        [CLI, "verify", "--vk", tmp_path / "cli" / "model.vk", "--proof", tmp_path / "py.proof",
         "--input", inputs],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8])
def test_dtypes(pk, digits, dtype):
    x = np.round(digits[:3])  # whole numbers, exact in every dtype
    expected = pk.run(x.astype(np.float32))
    np.testing.assert_array_equal(pk.run(x.astype(dtype)), expected)
    np.testing.assert_array_equal(pk.run(x.astype(dtype).tolist()), expected)


def test_shapes(pk, digits):
    one = pk.run(digits[5])  # 1-D: one row
    assert one.shape == (1, 10)
    np.testing.assert_array_equal(one, pk.run(digits[5:6]))
    # non-contiguous and Fortran-ordered arrays are read by value
    x = np.asfortranarray(digits[:4])
    np.testing.assert_array_equal(pk.run(x), pk.run(digits[:4]))
    np.testing.assert_array_equal(pk.run(digits[:8:2]), pk.run(digits[[0, 2, 4, 6]]))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 63)), "inputs has shape (2, 63): the model takes (n, 64)"),
        (np.zeros((2, 8, 8)), "inputs has shape (2, 8, 8)"),
        (np.zeros(65), "inputs has shape (65,)"),
        (np.zeros((0, 64)), "inputs has no rows"),
        (np.full((1, 64), np.nan), "inputs row 0, value 0: NaN is not a finite number"),
        (np.array([[1e300] * 64]), "not a finite number"),
        (np.array([["a"] * 64]), "expected an array of numbers"),
    ],
)
def test_bad_inputs(pk, bad, message):
    for call in (pk.run, pk.prove):
        with pytest.raises(zkml.InputError) as e:
            call(bad)
        assert message in str(e.value)
        assert isinstance(e.value, ValueError)


def test_tampered_input_is_refused(pk, digits, proof):
    x = digits[:8].copy()
    zkml.verify(pk.vk, proof, inputs=x)
    x[3, 10] += 4.0
    with pytest.raises(zkml.VerificationError, match="not the quantization of the given input"):
        zkml.verify(pk.vk, proof, inputs=x)
    with pytest.raises(zkml.VerificationError, match="samples"):
        zkml.verify(pk.vk, proof, inputs=digits[:7])


def test_tampered_proof_is_refused(pk, proof):
    data = bytearray(proof.to_bytes())
    refused = 0
    for position in range(16, len(data), len(data) // 40):
        tampered = bytearray(data)
        tampered[position] ^= 0x01
        try:
            bad = zkml.Proof.from_bytes(bytes(tampered))
        except zkml.ZkmlError:
            continue  # refused as malformed: fine too
        with pytest.raises(zkml.VerificationError):
            zkml.verify(pk.vk, bad)
        refused += 1
    assert refused > 10


def test_proof_of_another_model_is_refused(proof, digits):
    other = zkml.setup(
        MODELS / "digits_mlp_7x50.onnx",
        calibration=rows(MODELS / "digits_mlp_7x50_calibration.json"),
    )
    with pytest.raises(zkml.VerificationError, match="proof refused"):
        zkml.verify(other.vk, proof)
    with pytest.raises(zkml.VerificationError):
        zkml.verify(other.vk, other.prove(digits[:2]), inputs=digits[2:4])


@pytest.mark.parametrize("cls", [zkml.ProvingKey, zkml.VerifyingKey, zkml.Proof])
def test_hostile_bytes(pk, proof, cls):
    good = {
        zkml.ProvingKey: pk.to_bytes(),
        zkml.VerifyingKey: pk.vk.to_bytes(),
        zkml.Proof: proof.to_bytes(),
    }[cls]
    rng = np.random.default_rng(7)
    samples = [b"", b"\x00", good[:8], good[: len(good) // 2], good[:-1], good + b"\x00",
               rng.bytes(len(good)), good[:8] + rng.bytes(200)]
    for k in range(0, len(good), max(1, len(good) // 30)):
        flipped = bytearray(good)
        flipped[k] ^= 0xFF
        samples.append(bytes(flipped))
    for data in samples:
        try:
            cls.from_bytes(data)
        except zkml.ZkmlError as e:
            assert not isinstance(e, zkml.InternalError), e
    with pytest.raises(zkml.ZkmlError, match="wrong magic"):
        cls.from_bytes(b"not a zkml file at all")


def test_file_errors(tmp_path):
    with pytest.raises(zkml.ZkmlError, match="cannot read"):
        zkml.ProvingKey.load(tmp_path / "missing.pk")
    (tmp_path / "model.vk").write_bytes(b"garbage")
    with pytest.raises(zkml.ZkmlError, match=r"model\.vk: not a verifying key file"):
        zkml.VerifyingKey.load(tmp_path)


def test_model_sources(calibration, digits, pk):
    onnx_bytes = MLP.read_bytes()
    from_bytes = zkml.setup(onnx_bytes, calibration=calibration)
    from_str = zkml.setup(str(MLP), calibration=calibration)
    assert from_bytes.vk.digest == from_str.vk.digest == pk.vk.digest
    onnx = pytest.importorskip("onnx")
    from_proto = zkml.setup(onnx.load(str(MLP)), calibration=calibration)
    assert from_proto.vk.digest == pk.vk.digest


def test_setup_without_calibration_warns():
    with pytest.warns(UserWarning, match="random inputs"):
        pk = zkml.setup(MLP)
    assert pk.input_shape == (64,)


def test_setup_errors(calibration):
    with pytest.raises(zkml.UnsupportedModelError, match="unsupported"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zkml.setup(MODELS / "unsupported.onnx")
    with pytest.raises(zkml.ZkmlError) as e:
        zkml.setup(b"this is not onnx", calibration=calibration)
    assert not isinstance(e.value, zkml.UnsupportedModelError)
    with pytest.raises(zkml.ZkmlError, match="cannot read|No such file"):
        zkml.setup("missing.onnx", calibration=calibration)
    with pytest.raises(zkml.InputError, match="calibration has shape"):
        zkml.setup(MLP, calibration=np.zeros((4, 10)))
    with pytest.raises(zkml.ZkmlError, match="bits = 40"):
        zkml.setup(MLP, calibration=calibration, bits=40)
    with pytest.raises(zkml.InputError, match="per-row"):
        zkml.setup(MLP, calibration=calibration, scales="per-tensor")
    with pytest.raises(TypeError):
        zkml.setup(12, calibration=calibration)


def test_inspect():
    summary = zkml.inspect(MLP)
    assert summary["supported"] and summary["unsupported"] == []
    assert summary["input_shape"] == [64]
    assert [op["kind"] for op in summary["ops"]][0] == "Dense 64->100"
    assert "Dense 64->100" in summary["text"]
    gaps = zkml.inspect(MODELS / "unsupported.onnx")
    assert not gaps["supported"] and gaps["unsupported"]


def test_several_outputs():
    model = FIXTURES / "skl_tanh.onnx"
    calib = rows(FIXTURES / "digits_calibration.json")
    pk = zkml.setup(model, calibration=calib)
    x = rows(FIXTURES / "skl_tanh_test.json")[:6]
    named = pk.run(x, by_name=True)
    assert len(named) == 2 and list(named) == list(pk.outputs)
    first = pk.run(x)
    np.testing.assert_array_equal(first, next(iter(named.values())))
    proof = pk.prove(x)
    proven = zkml.verify(pk.vk, proof, inputs=x, by_name=True)
    assert proven.keys() == named.keys()
    for name in named:
        np.testing.assert_array_equal(proven[name], named[name])


def test_ctrl_c_interrupts_a_long_call(pk, digits):
    # Python's own Ctrl-C handler, which a Python started with SIGINT ignored (a background
    # job of a non-interactive shell, as CI may run us) does not install
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        x = np.tile(digits, (10, 1))  # 1000 rows: a few seconds of proving
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        start = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            pk.prove(x)
        assert time.monotonic() - start < 1.5
    finally:
        signal.signal(signal.SIGINT, previous)


def test_from_torch_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    with pytest.raises(ImportError, match="needs PyTorch"):
        zkml.from_torch(object(), np.zeros((1, 4)))


def test_verify_argument_types(pk, proof):
    with pytest.raises(TypeError):
        zkml.verify(proof, proof)
    with pytest.raises(TypeError):
        zkml.verify(pk.vk, proof.to_bytes())
    # a proving key stands for its verifying key
    np.testing.assert_array_equal(zkml.verify(pk, proof), zkml.verify(pk.vk, proof))


def test_a_panic_becomes_an_exception():
    with pytest.raises(zkml.InternalError, match="a bug in zkml.*on purpose"):
        zkml._zkml._panic_in_background()
    assert zkml._zkml.VERSION


def test_from_torch_exports_through_torch_onnx(monkeypatch, tmp_path, calibration):
    """With a stand-in for torch: the call torch.onnx.export gets, and the bytes it writes."""
    import types

    calls = []

    class Tensor:
        def __init__(self, data):
            self.data = data

    def export(module, args, f, **kwargs):
        calls.append(kwargs)
        if "dynamo" in kwargs:  # as a PyTorch older than the dynamo switch
            raise TypeError("unexpected keyword argument 'dynamo'")
        f.write(MLP.read_bytes())

    torch = types.ModuleType("torch")
    torch.Tensor = Tensor
    torch.as_tensor = Tensor
    torch.onnx = types.SimpleNamespace(export=export)
    monkeypatch.setitem(sys.modules, "torch", torch)

    class Module:
        training = True

        def eval(self):
            self.training = False

        def train(self):
            self.training = True

    module = Module()
    data = zkml.from_torch(module, np.zeros((1, 64)), path=tmp_path / "m.onnx")
    assert data == MLP.read_bytes() == (tmp_path / "m.onnx").read_bytes()
    assert module.training  # put back as it was
    assert calls[-1]["dynamic_axes"] == {"input": {0: "batch"}, "output": {0: "batch"}}
    assert zkml.setup(data, calibration=calibration).input_shape == (64,)
