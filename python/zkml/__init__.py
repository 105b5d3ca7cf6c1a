"""Succinct proofs that a quantized neural network maps an input to an output.

    import zkml
    pk = zkml.setup("model.onnx", calibration=X_calib, bits=8)
    pk.save("keys/")                      # keys/model.pk and keys/model.vk, as `zkml setup`
    proof = pk.prove(X)                   # one proof of every row
    y = zkml.verify(pk.vk, proof, inputs=X)

Arrays: float32, float64 or integer numpy arrays (anything `numpy.asarray` takes), one sample
as the model's input shape without the batch dimension (or flattened), or `(n, ...)` for `n`
samples. Values are quantized as float32, as the command line reads its JSON files.

Outputs: an array `(n, values)` of the model's first graph output, one row per sample; pass
`by_name=True` for a dict of every graph output by its ONNX name (a classifier's label and
probabilities).

Long calls (setup, loading a key, run, prove, verify) release the GIL and can be interrupted
with Ctrl-C: `KeyboardInterrupt` is raised at once, while the abandoned native work, which
cannot be cancelled, finishes in the background on its own thread and its result is dropped
(it uses the CPU until then; it ends with the interpreter if that exits first).

Distributed proving: `zkml.ray` (install with `pip install .[ray]`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, overload

import numpy as np

from . import _zkml
from ._errors import (
    InputError,
    InternalError,
    UnsupportedModelError,
    VerificationError,
    ZkmlError,
)

try:
    from typing import Literal
except ImportError:  # pragma: no cover - Python < 3.8 is not supported anyway
    from typing_extensions import Literal  # type: ignore

__all__ = [
    "InputError",
    "InternalError",
    "Proof",
    "ProvingKey",
    "UnsupportedModelError",
    "VerificationError",
    "VerifyingKey",
    "ZkmlError",
    "from_torch",
    "inspect",
    "setup",
    "verify",
]

#: what names a model: a path to an ONNX file, its bytes, or an `onnx.ModelProto`
ModelSource = Union[str, "os.PathLike[str]", bytes, Any]
#: the file names `save` writes and `zkml setup` writes
PK_FILE = "model.pk"
VK_FILE = "model.vk"


def __getattr__(name: str) -> Any:
    """`zkml.ray` without `import zkml.ray` (it imports Ray, so only when asked for)."""
    if name == "ray":
        import importlib

        return importlib.import_module(".ray", __name__)
    raise AttributeError(f"module 'zkml' has no attribute {name!r}")


def _model(model: ModelSource) -> Union[str, bytes]:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    serialize = getattr(model, "SerializeToString", None)
    if callable(serialize):  # onnx.ModelProto
        return serialize()
    raise TypeError(
        f"model must be a path, ONNX bytes or an onnx.ModelProto, not {type(model).__name__}"
    )


def _array(x: Any, what: str) -> Tuple[bytes, List[int]]:
    """An array as the native module takes it: float32 little-endian bytes and a shape."""
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
            or a.dtype == np.bool_):
        raise InputError(f"{what}: expected an array of numbers, got dtype {a.dtype}")
    with np.errstate(over="ignore"):  # a float64 beyond float32 becomes inf: refused below
        a = np.ascontiguousarray(a, dtype="<f4")
    return a.tobytes(), [int(d) for d in a.shape]


def _outputs(
    raw: Sequence[Tuple[str, int, bytes]], by_name: bool
) -> Union[np.ndarray, Dict[str, np.ndarray]]:
    arrays = {
        name: np.frombuffer(data, dtype="<f4").reshape(-1, width).astype(np.float32)
        for name, width, data in raw
    }
    if by_name:
        return arrays
    return next(iter(arrays.values()))


def _read(path: Union[str, "os.PathLike[str]"]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ZkmlError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from e


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as e:
        raise ZkmlError(f"cannot write {path}: {e.strerror or e}") from e


def _load(path: Union[str, "os.PathLike[str]"], default: str, parse: Any) -> Any:
    """Reads a key file (or `default` inside a directory); errors name the file, as the CLI."""
    p = Path(path)
    if p.is_dir():
        p = p / default
    data = _read(p)
    try:
        return parse(data)
    except ZkmlError as e:
        raise type(e)(f"{p}: {e}") from None


class VerifyingKey:
    """A verifying key: the model's architecture, scales and weight commitments (`model.vk`).

    Loading one checks it, its key proof included, so a verifier need not trust whoever ran
    setup. Picklable (as its bytes).
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: _zkml.VerifyingKey) -> None:
        self._inner = inner

    @classmethod
    def from_bytes(cls, data: bytes) -> "VerifyingKey":
        return cls(_zkml.VerifyingKey.from_bytes(bytes(data)))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "VerifyingKey":
        """Reads `model.vk` (a file, or a directory holding one)."""
        return _load(path, VK_FILE, cls.from_bytes)

    def to_bytes(self) -> bytes:
        return self._inner.to_bytes()

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        """Writes the key to `path` (a directory gets `model.vk`); returns the file's path."""
        p = Path(path)
        if p.is_dir():
            p = p / VK_FILE
        _write(p, self.to_bytes())
        return p

    @property
    def digest(self) -> str:
        """The digest `zkml setup` prints; a proof names the digest of its key."""
        return self._inner.digest

    @property
    def security(self) -> str:
        """The security level of the key's proofs and its assumption."""
        return self._inner.security

    @property
    def input_shape(self) -> Tuple[int, ...]:
        """One sample's shape: the ONNX input's without its batch dimension."""
        return tuple(self._inner.input_shape)

    @property
    def batch(self) -> Optional[int]:
        """The batch size written in the model, `None` when dynamic."""
        return self._inner.batch

    @property
    def outputs(self) -> Dict[str, int]:
        """Every graph output's name and number of values per sample, the first first."""
        return dict(self._inner.outputs)

    def __reduce__(self) -> Tuple[Any, Tuple[bytes]]:
        return (VerifyingKey.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"VerifyingKey(input_shape={self.input_shape}, digest={self.digest!r})"


class Proof:
    """A proof that the model of a verifying key maps some inputs to some outputs.

    `to_bytes` gives the bytes of a proof file of `zkml prove`. Picklable (as its bytes).
    """

    __slots__ = ("_inner",)

    def __init__(self, inner: _zkml.Proof) -> None:
        self._inner = inner

    @classmethod
    def from_bytes(cls, data: bytes) -> "Proof":
        """Parses proof bytes (checked against a key by `verify`)."""
        return cls(_zkml.Proof.from_bytes(bytes(data)))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Proof":
        p = Path(path)
        data = _read(p)
        try:
            return cls.from_bytes(data)
        except ZkmlError as e:
            raise type(e)(f"{p}: {e}") from None

    def to_bytes(self) -> bytes:
        return self._inner.to_bytes()

    def save(self, path: Union[str, "os.PathLike[str]"]) -> Path:
        p = Path(path)
        _write(p, self.to_bytes())
        return p

    @property
    def num_samples(self) -> int:
        """The number of rows proven (as the proof claims until it is verified)."""
        return self._inner.num_samples

    @property
    def key_digest(self) -> str:
        """The digest of the key the proof was made for (as the proof claims)."""
        return self._inner.key_digest

    def __len__(self) -> int:
        return self.num_samples

    def __reduce__(self) -> Tuple[Any, Tuple[bytes]]:
        return (Proof.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"Proof(num_samples={self.num_samples})"


class ProvingKey:
    """A proving key: the quantized model and its verifying key (`model.pk`).

    Loading one checks its weights against its verifying key (taking their commitment data
    from the file, or recommitting them for a large key). Picklable (as its bytes).
    """

    __slots__ = ("_inner", "_vk")

    def __init__(self, inner: _zkml.ProvingKey) -> None:
        self._inner = inner
        self._vk = VerifyingKey(inner.vk)

    @classmethod
    def from_bytes(cls, data: bytes) -> "ProvingKey":
        return cls(_zkml.ProvingKey.from_bytes(bytes(data)))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "ProvingKey":
        """Reads `model.pk` (a file, or a directory holding one)."""
        return _load(path, PK_FILE, cls.from_bytes)

    def to_bytes(self) -> bytes:
        return self._inner.to_bytes()

    def save(self, directory: Union[str, "os.PathLike[str]"]) -> Tuple[Path, Path]:
        """Writes `model.pk` and `model.vk` into `directory` (created if needed), the files
        `zkml setup --out` writes; returns their paths."""
        d = Path(directory)
        pk_path, vk_path = d / PK_FILE, d / VK_FILE
        _write(pk_path, self.to_bytes())
        _write(vk_path, self._vk.to_bytes())
        return pk_path, vk_path

    @property
    def vk(self) -> VerifyingKey:
        return self._vk

    @property
    def input_shape(self) -> Tuple[int, ...]:
        return self._vk.input_shape

    @property
    def outputs(self) -> Dict[str, int]:
        return self._vk.outputs

    @overload
    def run(self, inputs: Any, by_name: Literal[False] = ...) -> np.ndarray: ...
    @overload
    def run(self, inputs: Any, by_name: Literal[True]) -> Dict[str, np.ndarray]: ...

    def run(self, inputs: Any, by_name: bool = False) -> Union[np.ndarray, Dict[str, np.ndarray]]:
        """Quantized inference (what a proof proves), without a proof: float outputs, one row
        per sample (see the module's doc for `by_name`)."""
        return _outputs(self._inner.run(*_array(inputs, "inputs")), by_name)

    def prove(self, inputs: Any) -> Proof:
        """Proves every row of `inputs` in one proof."""
        return Proof(self._inner.prove(*_array(inputs, "inputs")))

    def __reduce__(self) -> Tuple[Any, Tuple[bytes]]:
        return (ProvingKey.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"ProvingKey(input_shape={self.input_shape}, digest={self._vk.digest!r})"


def setup(
    model: ModelSource,
    calibration: Any = None,
    bits: int = 8,
    scales: str = "per-row",
    public_weights: bool = False,
) -> ProvingKey:
    """Quantizes a model and commits to its weights, as `zkml setup`.

    `calibration`: sample inputs (an array, as for `run`) that fix the activation scales.
    Without it the scales come from 64 random inputs in [-1, 1] (a warning says so): pass real
    inputs for accuracy. `scales`: "per-row" or "per-layer" weight scales. `public_weights`:
    put the weights in the verifying key instead of committing to them (a public model, as
    `zkml setup --public-weights`): proofs open no weight commitment, verifying reads every
    weight.

    Raises `UnsupportedModelError` for a model the tool does not take, `ZkmlError` for an
    unreadable model or bad calibration data.
    """
    if calibration is None:
        warnings.warn(
            "no calibration inputs: activation scales come from 64 random inputs in [-1, 1]; "
            "pass real inputs for better accuracy",
            stacklevel=2,
        )
        calib = None
    else:
        calib = _array(calibration, "calibration")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 0 < bits < 64:
        raise InputError(f"bits must be a small positive integer, got {bits!r}")
    return ProvingKey(_zkml.setup(_model(model), calib, int(bits), scales, bool(public_weights)))


@overload
def verify(
    vk: Union[VerifyingKey, ProvingKey], proof: Proof, inputs: Any = ...,
    by_name: Literal[False] = ...,
) -> np.ndarray: ...
@overload
def verify(
    vk: Union[VerifyingKey, ProvingKey], proof: Proof, inputs: Any = ..., *,
    by_name: Literal[True],
) -> Dict[str, np.ndarray]: ...


def verify(
    vk: Union[VerifyingKey, ProvingKey],
    proof: Proof,
    inputs: Any = None,
    by_name: bool = False,
) -> Union[np.ndarray, Dict[str, np.ndarray]]:
    """Checks `proof` against `vk` and returns the proven outputs, one row per sample.

    With `inputs`, also checks that the proof's input is the quantization of `inputs`
    (`zkml verify --input`). Raises `VerificationError` with the reason when refused.
    """
    if isinstance(vk, ProvingKey):
        vk = vk.vk
    if not isinstance(vk, VerifyingKey):
        raise TypeError(f"vk must be a VerifyingKey, not {type(vk).__name__}")
    if not isinstance(proof, Proof):
        raise TypeError(f"proof must be a Proof, not {type(proof).__name__}")
    arr = None if inputs is None else _array(inputs, "inputs")
    return _outputs(vk._inner.verify(proof._inner, arr), by_name)


def inspect(model: ModelSource) -> Dict[str, Any]:
    """The op summary of `zkml inspect`: a dict with the input and output shapes, `ops` (one
    dict per op: kind, ONNX op, shapes, parameters, how it is proven), `unsupported` (every
    op the tool does not take yet, empty when the model is supported), `supported`, and
    `text`, the summary as the command line prints it.

    Unlike the command line, an unsupported model is not an error here: its gaps are listed.
    """
    import json

    text, doc = _zkml.inspect(_model(model))
    summary: Dict[str, Any] = json.loads(doc)
    summary["supported"] = not summary.get("unsupported")
    summary["text"] = text
    return summary


def from_torch(
    module: Any,
    example_input: Any,
    path: Optional[Union[str, "os.PathLike[str]"]] = None,
    opset: int = 17,
) -> bytes:
    """Exports a PyTorch module to ONNX (with a dynamic batch dimension) for `setup`.

    `example_input`: one batch of inputs (a tensor or an array). Returns the ONNX bytes, and
    also writes them to `path` when given. PyTorch is optional: this is the only function
    that imports it.
    """
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "zkml.from_torch needs PyTorch (pip install torch); export the model to ONNX "
            "yourself and pass the file to zkml.setup otherwise"
        ) from e
    import io

    if not isinstance(example_input, torch.Tensor):
        example_input = torch.as_tensor(np.asarray(example_input, dtype=np.float32))
    buffer = io.BytesIO()
    kwargs: Dict[str, Any] = dict(
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        opset_version=opset,
    )
    was_training = getattr(module, "training", False)
    module.eval()
    try:
        try:
            torch.onnx.export(module, (example_input,), buffer, dynamo=False, **kwargs)
        except TypeError:  # a PyTorch without the dynamo switch
            torch.onnx.export(module, (example_input,), buffer, **kwargs)
    finally:
        if was_training:
            module.train()
    data = buffer.getvalue()
    if path is not None:
        _write(Path(path), data)
    return data
