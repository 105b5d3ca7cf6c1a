#!/usr/bin/env python3
"""Proofs per second of zkml.ray.prove_many with 1, 2, ... concurrent Ray workers.

Sets up a model once (calibration: the input file's rows), then proves `--proofs` proofs of
`--rows-per-proof` rows each with `zkml.ray.prove_many`, alternating the worker counts round by
round (so that every count sees the same background load), `--repeats` rounds each, after one
untimed warm-up round per count (it loads the proving key into each worker process).

Workers: one Ray instance with C CPUs (`--cpus`, default all cores; or an existing cluster
with `--address`); W concurrent workers means tasks that ask for C / W CPUs, so that at most W
run at once, each prover with RAYON_NUM_THREADS=1 (one core per worker: the scaling measured is
Ray's, not the prover's own threads). A round without Ray, the same proofs one after the other
in this process with the prover's default threads, is the baseline.

Beyond the cores at hand (the simulation): the driver's serial work per proof (submitting a
task, fetching and parsing a proof of this size) is timed with tasks that return a proof's
bytes without proving; N workers cannot exceed 1 / that, and with per-proof time T on one
worker the estimate is min(N / T, 1 / serial) proofs per second.

Output: a JSON document (`--json PATH`) and a Markdown table on stdout, medians per count,
scaling efficiency = throughput(W) / (W * throughput(1)).

On a cluster (`ray start --head --num-cpus=C` on one machine, `ray start --address=HEAD:6379
--num-cpus=C` on the others, each started with RAYON_NUM_THREADS=1 in its environment), pass
`--address auto --workers ...` from the head node; C / W CPUs must fit on one node, so there
W runs from the number of nodes up (`--workers 4 8 16` on four nodes of C = 4).

Usage:
  python assets/scripts/ray_bench.py [--model assets/models/cifar_cnn_264k.onnx]
      [--input assets/models/cifar_cnn_264k_input.json] [--workers 1 2] [--proofs 8]
      [--rows-per-proof 1] [--repeats 3] [--simulate 4 8 16 32] [--address ADDR] [--json PATH]

Needs `pip install '.[ray]'`. Exit codes: 0 ok; 1 a proof did not verify; 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "assets/models/cifar_cnn_264k.onnx"))
    p.add_argument("--input", default=str(ROOT / "assets/models/cifar_cnn_264k_input.json"))
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--proofs", type=int, default=8, help="proofs per round")
    p.add_argument("--rows-per-proof", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    p.add_argument("--simulate", type=int, nargs="*", default=[4, 8, 16, 32])
    p.add_argument("--address", default=None, help="an existing Ray cluster")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()
    if min(args.workers) < 1 or args.proofs < 1 or args.rows_per_proof < 1 or args.repeats < 1:
        p.error("counts must be positive")
    if args.address is None and max(args.workers) > args.cpus:
        p.error(f"--workers up to --cpus ({args.cpus})")
    return args


def inputs_for(x: np.ndarray, rows: int) -> np.ndarray:
    """`rows` distinct rows: the input file's, repeated with a small shift each time."""
    reps = -(-rows // len(x))
    tiled = np.concatenate([x + 1e-3 * k for k in range(reps)])[:rows]
    return np.clip(tiled, x.min(), x.max())


def main() -> int:
    args = parse_args()
    import ray

    import zkml
    import zkml.ray as zray

    x = np.asarray(json.loads(Path(args.input).read_text())["input_data"], dtype=np.float32)
    start = time.perf_counter()
    pk = zkml.setup(args.model, calibration=x)
    setup_s = time.perf_counter() - start
    rows = inputs_for(x, args.proofs * args.rows_per_proof)
    # one core per prover in the workers Ray starts from here (they inherit the environment);
    # this process's thread pool started in setup, with the default threads (the baseline)
    os.environ["RAYON_NUM_THREADS"] = "1"

    ray.init(address=args.address, num_cpus=None if args.address else args.cpus,
             include_dashboard=False, log_to_driver=False)
    cpus = int(ray.cluster_resources().get("CPU", args.cpus))
    if max(args.workers) > cpus:
        print(f"--workers up to the cluster's {cpus} CPUs", file=sys.stderr)
        return 2

    def ray_round(workers: int) -> float:
        start = time.perf_counter()
        proofs = zray.prove_many(pk, rows, rows_per_proof=args.rows_per_proof,
                                 num_cpus=cpus / workers)
        elapsed = time.perf_counter() - start
        assert len(proofs) == args.proofs
        return elapsed

    for w in args.workers:  # warm-up: every worker process loads the key once
        ray_round(w)
    times: dict[str, list[float]] = {str(w): [] for w in args.workers}
    times["local"] = []
    for _ in range(args.repeats):
        for w in args.workers:
            times[str(w)].append(ray_round(w))
        # the baseline: no Ray, this process, the prover's default threads
        start = time.perf_counter()
        for k in range(args.proofs):
            pk.prove(rows[k * args.rows_per_proof:(k + 1) * args.rows_per_proof])
        times["local"].append(time.perf_counter() - start)

    # the driver's serial cost per proof: tasks that return a proof's bytes at once
    sample = pk.prove(rows[: args.rows_per_proof]).to_bytes()

    @ray.remote(num_cpus=cpus / max(args.workers))
    def echo(key: bytes, data: bytes) -> bytes:
        return data

    key_ref = ray.put(pk.to_bytes())
    serial = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        out = ray.get([echo.remote(key_ref, sample) for _ in range(args.proofs)])
        [zkml.Proof.from_bytes(b) for b in out]
        serial.append((time.perf_counter() - start) / args.proofs)

    # every proof of the last round verifies
    proofs = zray.prove_many(pk, rows, rows_per_proof=args.rows_per_proof)
    zray.verify_many(pk.vk, proofs, inputs=rows)
    ray.shutdown()

    med = {k: statistics.median(v) for k, v in times.items()}
    thr = {k: args.proofs / v for k, v in med.items()}
    one = thr[str(min(args.workers))] / min(args.workers)
    serial_s = statistics.median(serial)
    per_proof_1 = 1 / one
    doc = {
        "model": args.model, "rows_per_proof": args.rows_per_proof, "proofs": args.proofs,
        "repeats": args.repeats, "cpus": cpus, "setup_s": setup_s,
        "proof_bytes": len(sample), "load_avg": os.getloadavg(),
        "round_s": times, "median_round_s": med, "proofs_per_s": thr,
        "efficiency": {str(w): thr[str(w)] / (w * one) for w in args.workers},
        "driver_serial_s_per_proof": serial_s,
        "simulated_proofs_per_s": {
            str(n): min(n / per_proof_1, 1 / serial_s) for n in args.simulate
        },
    }
    print(f"{Path(args.model).name}: {args.proofs} proofs of {args.rows_per_proof} row(s) per "
          f"round, {args.repeats} rounds, {cpus} CPUs, medians")
    print("| workers | round s | proofs/s | efficiency |")
    print("|---|---|---|---|")
    for w in args.workers:
        k = str(w)
        print(f"| {w} | {med[k]:.2f} | {thr[k]:.3f} | {doc['efficiency'][k]:.2f} |")
    print(f"| no Ray (one process, default threads) | {med['local']:.2f} | {thr['local']:.3f} | |")
    print(f"driver serial time per proof: {serial_s * 1e3:.1f} ms; simulated: " + ", ".join(
        f"{n} workers {v:.2f}/s" for n, v in doc["simulated_proofs_per_s"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
