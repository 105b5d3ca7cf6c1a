"""Proving many rows on a Ray cluster: `prove_many` splits them into chunks, one proof each.

    import zkml, zkml.ray
    proofs = zkml.ray.prove_many(pk, X, rows_per_proof=64)          # local Ray by default
    y = zkml.ray.verify_many(pk.vk, proofs, inputs=X)                # every row's outputs

The proving key goes into Ray's object store once (as its bytes); each worker process loads it
once and keeps it for the next tasks. A chunk is one Ray task
with `num_cpus` CPUs; a task whose worker dies (killed, out of memory, a lost node) is run
again, up to `max_retries` times, so no row is lost: the proofs come back in the order of the
rows. Needs `pip install .[ray]`.
"""

from __future__ import annotations

import hashlib
import os
import signal
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import InputError, Proof, ProvingKey, VerificationError, VerifyingKey, ZkmlError, _array

try:
    import ray as _ray
except ImportError as e:  # pragma: no cover - exercised only without Ray
    raise ImportError("zkml.ray needs Ray: pip install '.[ray]' (or pip install ray)") from e

__all__ = ["prove_many", "verify_many"]

#: test hook: a path; the first task that creates this file kills its own worker process
#: (SIGKILL) before proving, so that Ray must run it again elsewhere
KILL_ONCE_ENV = "ZKML_RAY_KILL_ONCE"

# keys loaded in this worker process, by the hash of their bytes (the last few)
_KEYS: Dict[bytes, Any] = {}
_KEYS_KEPT = 2


def _cached(data: bytes, parse: Any) -> Any:
    digest = hashlib.blake2b(data, digest_size=16).digest()
    key = _KEYS.get(digest)
    if key is None:
        key = parse(data)
        while len(_KEYS) >= _KEYS_KEPT:
            _KEYS.pop(next(iter(_KEYS)))
        _KEYS[digest] = key
    return key


def _maybe_die() -> None:
    marker = os.environ.get(KILL_ONCE_ENV)
    if not marker:
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def _prove_chunk(pk_bytes: bytes, rows: np.ndarray) -> bytes:
    _maybe_die()
    pk = _cached(pk_bytes, ProvingKey.from_bytes)
    return pk.prove(rows).to_bytes()


def _verify_chunk(
    vk_bytes: bytes, proofs: List[bytes], inputs: Optional[List[np.ndarray]]
) -> List[Tuple[Optional[str], Optional[Dict[str, np.ndarray]]]]:
    import zkml

    vk = _cached(vk_bytes, VerifyingKey.from_bytes)
    results: List[Tuple[Optional[str], Optional[Dict[str, np.ndarray]]]] = []
    for k, data in enumerate(proofs):
        try:
            x = None if inputs is None else inputs[k]
            out = zkml.verify(vk, Proof.from_bytes(data), inputs=x, by_name=True)
            results.append((None, out))
        except zkml.ZkmlError as e:
            results.append((str(e), None))
    return results


def _connect(address: Optional[str]) -> None:
    if not _ray.is_initialized():
        _ray.init(address=address)


def _rows(inputs: Any, sample_shape: Sequence[int]) -> np.ndarray:
    """The inputs as `(n, *sample_shape)` float32, a single sample as one row."""
    data, shape = _array(inputs, "inputs")
    a = np.frombuffer(data, dtype="<f4").reshape(shape)
    sample_len = int(np.prod(sample_shape))
    if list(a.shape) == list(sample_shape) or list(a.shape) == [sample_len]:
        return a.reshape((1, *sample_shape))
    if a.ndim >= 2 and a.shape[0] > 0 and int(np.prod(a.shape[1:])) == sample_len:
        flat = a.reshape(-1)
        finite = np.isfinite(flat)
        if not finite.all():
            i = int(np.argmin(finite))
            raise InputError(
                f"inputs row {i // sample_len}, value {i % sample_len}: {flat[i]} is not a "
                "finite number"
            )
        return a.reshape(a.shape[0], *sample_shape)
    dims = ", ".join(str(d) for d in sample_shape)
    raise InputError(
        f"inputs has shape {tuple(a.shape)}: the model takes (n, {dims}) or (n, {sample_len})"
    )


def _chunks(n: int, rows_per_proof: int) -> List[Tuple[int, int]]:
    return [(start, min(start + rows_per_proof, n)) for start in range(0, n, rows_per_proof)]


def prove_many(
    pk: ProvingKey,
    inputs: Any,
    rows_per_proof: int = 64,
    *,
    num_cpus: float = 1,
    max_retries: int = 3,
    address: Optional[str] = None,
) -> List[Proof]:
    """Proves the rows of `inputs` in chunks of `rows_per_proof`, one Ray task and one proof
    per chunk; returns the proofs in the order of the rows.

    Connects to Ray if needed: a local instance by default, the cluster at `address`
    otherwise (`"auto"`, `"ray://host:10001"`). `num_cpus`: CPUs each task asks for. The
    prover's thread pool takes every core of its process unless the workers run with
    `RAYON_NUM_THREADS` set: set it to `num_cpus` where several tasks share a node (a local
    Ray started here inherits this process's environment). `max_retries`: how many times a
    task whose worker died is run again. A task that fails with an error (a bad input; for a
    model with a fixed batch N > 1, `rows_per_proof` must be N) raises that error
    (`zkml.ZkmlError`) here, and the other tasks are cancelled.
    """
    if not isinstance(pk, ProvingKey):
        raise TypeError(f"pk must be a ProvingKey, not {type(pk).__name__}")
    if rows_per_proof < 1:
        raise ValueError(f"rows_per_proof must be at least 1, got {rows_per_proof}")
    rows = _rows(inputs, pk.input_shape)
    _connect(address)
    task = _ray.remote(num_cpus=num_cpus, max_retries=max_retries)(_prove_chunk)
    pk_ref = _ray.put(pk.to_bytes())
    refs = [task.remote(pk_ref, rows[a:b]) for a, b in _chunks(len(rows), rows_per_proof)]
    try:
        return [Proof.from_bytes(data) for data in _get(refs)]
    except BaseException:
        for ref in refs:
            _ray.cancel(ref, force=True)
        raise


def _get(refs: List[Any]) -> List[Any]:
    """`ray.get`, re-raising a task's zkml error as itself."""
    try:
        return _ray.get(refs)
    except _ray.exceptions.RayTaskError as e:
        cause = e.as_instanceof_cause()
        if isinstance(cause, ZkmlError):
            raise cause from None
        raise


def verify_many(
    vk: Any,
    proofs: Sequence[Proof],
    inputs: Any = None,
    *,
    by_name: bool = False,
    proofs_per_task: int = 16,
    num_cpus: float = 1,
    max_retries: int = 3,
    address: Optional[str] = None,
) -> Any:
    """Verifies `proofs` as Ray tasks and returns the proven outputs of every row, in order
    (one array, or a dict by output name with `by_name`), as `zkml.verify` on each.

    With `inputs` (all rows, in the order of the proofs), also checks that each proof's input
    is the quantization of its rows. Raises `zkml.VerificationError` naming the first proof
    refused.
    """
    if isinstance(vk, ProvingKey):
        vk = vk.vk
    if not isinstance(vk, VerifyingKey):
        raise TypeError(f"vk must be a VerifyingKey, not {type(vk).__name__}")
    proofs = list(proofs)
    if not proofs:
        raise ValueError("no proofs to verify")
    chunked_inputs: Optional[List[np.ndarray]] = None
    if inputs is not None:
        rows = _rows(inputs, vk.input_shape)
        counts = [p.num_samples for p in proofs]
        if sum(counts) != len(rows):
            raise VerificationError(
                f"the proofs hold {sum(counts)} rows, the inputs {len(rows)}"
            )
        ends = np.cumsum(counts)
        chunked_inputs = [rows[e - c:e] for c, e in zip(counts, ends)]
    _connect(address)
    task = _ray.remote(num_cpus=num_cpus, max_retries=max_retries)(_verify_chunk)
    vk_ref = _ray.put(vk.to_bytes())
    groups = _chunks(len(proofs), proofs_per_task)
    refs = [
        task.remote(
            vk_ref,
            [p.to_bytes() for p in proofs[a:b]],
            None if chunked_inputs is None else chunked_inputs[a:b],
        )
        for a, b in groups
    ]
    results = [r for group in _get(refs) for r in group]
    for k, (error, _) in enumerate(results):
        if error is not None:
            raise VerificationError(f"proof {k}: {error}")
    outputs = [out for _, out in results if out is not None]
    names = list(outputs[0])
    merged = {name: np.concatenate([o[name] for o in outputs]) for name in names}
    return merged if by_name else merged[names[0]]
