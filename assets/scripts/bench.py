#!/usr/bin/env python3
"""Benchmark the zkml prover (and optionally EZKL) on digits MLPs, CNNs and other ONNX models.

A config `d,w` is an MLP of d Gemm layers (transB=1) of width w with ReLU between:
64 -> w -> ... -> w -> 10, trained with scikit-learn's MLPClassifier on the digits data
(same split, seeds and ONNX writer as assets/scripts/make_models.py). For each config the
script writes the ONNX model, a calibration JSON (training rows), an input JSON (one held-out
sample: the proven input) and a test JSON (100 held-out samples), then measures:

  zkml: `setup` once (with `--public-weights`: a key holding the weights, the visibility of
        EZKL's fixed params; by default the key commits to them, which EZKL's run does not
        match); `prove --json` and `verify --json` `--repeats` times (the times the
        tool prints and the wall time of each subprocess, proof bytes, peak RSS of each
        prove process from wait4's rusage, see Runner); `run --json` on the test JSON for
        accuracy (quantized argmax vs labels, and vs the float model's argmax).
  EZKL (--run-ezkl, optional, `pip install ezkl`): gen_settings (public input/output, fixed
        params), calibrate_settings (target "resources", same calibration rows),
        compile_circuit, gen_srs (local, cached per logrows; no network), setup once;
        gen_witness + prove and verify `--repeats` times; every step in its own Python
        subprocess so its peak RSS is exact (it includes the Python interpreter and the
        ezkl module). EZKL's prove_ms is gen_witness + prove timed inside that subprocess
        (zkml's prove includes inference too); its wall time adds Python start-up and
        `import ezkl`. Accuracy from gen_witness on the test rows.

`--model-type cnn` benchmarks ONNX files as they are: a config is either the name of a bundled
model of assets/models (NAME.onnx and NAME_input.json, see docs/MODELS.md) or a path to an ONNX
file (a config containing `/` or ending in `.onnx`, e.g. /tmp/big/vgg16.onnx from
make_vgg16.py), whose input JSON is the file beside it named STEM_input.json (its config label
is STEM). For either, STEM_calibration.json and STEM_test.json beside the model are used where
they exist, else the input JSON.

CSV columns: params (weights and biases of the model as zkml `setup` prints them: a BatchNorm
folded into its convolution adds nothing, unlike in a sum of the ONNX initializers), setup_ms
(zkml: as `setup` prints it; EZKL: gen_settings + calibrate_settings + compile_circuit + setup,
SRS generation excluded), prove_ms, verify_ms, proof_bytes, peak_rss_mb (of the prove
process), accuracy and float_agreement (argmax on the 100 test rows vs labels / vs the float
model), *_wall_ms (whole subprocess), witness_ms (EZKL),
output_argmax (on the proven input), argmax_match_zkml (EZKL vs zkml on that input).

Outputs in --output-dir: results.csv (one row per run), results.json (everything: the rows,
zkml's phases_ms, model_type and params per config), summary.md (medians per config and
system, EZKL/ZKML prove ratio, a config | params | zkml prove ms table; also printed),
prove_time.png (median prove time per config, log scale) and prove_vs_params.png (median prove
time against parameter count, both log scale, one labelled point per config; EZKL points too
when it ran).

Usage:
  python assets/scripts/bench.py --configs 5,100:7,50 --repeats 5 [--run-ezkl]
      [--public-weights] [--num-threads N] [--model-type mlp|cnn] [--output-dir DIR] [--zkml PATH]
  python assets/scripts/bench.py --model-type cnn --configs digits_cnn:/tmp/big/vgg16.onnx
  python assets/scripts/bench.py --plot-from DIR1,DIR2,... --output-dir DIR
      runs nothing: reads the results.json of earlier runs (e.g. one mlp and one cnn run) and
      draws prove_vs_params.png of all their configs into --output-dir (and prints the
      config | params | prove ms table).

Exit codes: 0 ok; 1 a step failed, a metric is missing or a proof did not verify;
2 bad usage (also: a model path or its STEM_input.json missing, a --plot-from DIR without
results.json).
"""

import argparse
import asyncio
import csv
import inspect
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MODEL_CACHE_VERSION = 1  # bump when the training recipe changes
DEFAULT_MLP = "5,100:7,50"
DEFAULT_CNN = "digits_cnn:lenet_28:cifar_cnn_264k"

CSV_FIELDS = [
    "config",
    "system",
    "run",
    "params",
    "setup_ms",
    "prove_ms",
    "verify_ms",
    "proof_bytes",
    "peak_rss_mb",
    "accuracy",
    "float_agreement",
    "setup_wall_ms",
    "prove_wall_ms",
    "verify_wall_ms",
    "witness_ms",
    "output_argmax",
    "float_argmax",
    "argmax_match_zkml",
]
# Metrics that must be present in every row; a missing one fails the run.
REQUIRED = [
    "params",
    "setup_ms",
    "prove_ms",
    "verify_ms",
    "proof_bytes",
    "peak_rss_mb",
    "accuracy",
    "float_agreement",
    "setup_wall_ms",
    "prove_wall_ms",
    "verify_wall_ms",
    "output_argmax",
]


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Subprocesses: wall time and exact per-child peak RSS, optional CPU pinning.
#
# ru_maxrss of a child counts the memory it had before exec: a child forked from this Python
# process (with numpy, scikit-learn, onnx loaded) starts at this process's RSS, so wait4 on it
# reports this process's size, not the benchmarked program's. Every command is therefore
# started by a minimal `python -S -I` spawner that forks, pins, execs and wait4s the command and
# writes its ru_maxrss and wall time to a file: the pre-exec floor is the spawner's own RSS
# (about 6.5 MB), below the zkml binary's smallest footprint (about 7 MB for `--help`).

SPAWNER = r"""
import os, sys, time
report, cpus, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
t0 = time.perf_counter_ns()
pid = os.fork()
if pid == 0:
    try:
        if cpus:
            os.sched_setaffinity(0, [int(c) for c in cpus.split(",")])
        os.execvp(argv[0], argv)
    except BaseException as e:
        os.write(2, ("spawn failed: %r\n" % (e,)).encode())
    os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall_ns = time.perf_counter_ns() - t0
with open(report, "w") as f:
    f.write("%d %d\n" % (ru.ru_maxrss, wall_ns))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


class Runner:
    def __init__(self, num_threads):
        self.env = dict(os.environ)
        self.cpus = ""
        if num_threads is not None:
            self.env["RAYON_NUM_THREADS"] = str(num_threads)
            if hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity"):
                available = sorted(os.sched_getaffinity(0))
                if num_threads > len(available):
                    log(f"warning: --num-threads {num_threads} > {len(available)} available "
                        f"CPUs; pinning to all of them")
                self.cpus = ",".join(str(c) for c in available[:num_threads])
                log(f"pinning benchmarked processes to CPUs {self.cpus}, "
                    f"RAYON_NUM_THREADS={num_threads}")
            else:
                log("warning: CPU affinity (os.sched_setaffinity) is not supported on this "
                    "platform; only RAYON_NUM_THREADS is set")

    def run(self, argv, what, timeout=None):
        """Run argv; returns (stdout, wall_ms, peak_rss_mb). Raises BenchError on failure."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                tempfile.TemporaryDirectory() as tmp:
            report = os.path.join(tmp, "rusage")
            proc = subprocess.Popen(
                [sys.executable, "-S", "-I", "-c", SPAWNER, report, self.cpus, *argv],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)  # the spawner's session: it and the command
                proc.wait()
                raise BenchError(f"{what} timed out after {timeout} s")
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode(errors="replace")
            stderr = err.read().decode(errors="replace")
            rusage = None
            if os.path.exists(report):
                with open(report) as f:
                    rusage = f.read().split()
        if proc.returncode != 0 or not rusage:
            tail = "\n".join((stderr.strip() or stdout.strip()).splitlines()[-15:])
            raise BenchError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
        maxrss, wall_ns = int(rusage[0]), int(rusage[1])
        # ru_maxrss is in KiB on Linux, bytes on macOS
        rss_mb = maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024
        return stdout, wall_ns / 1e6, rss_mb


def parse_json_output(stdout, what):
    """The last line of stdout that parses as a JSON object."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise BenchError(f"{what}: no JSON object in its output:\n{stdout[-2000:]}")


def argmax(v):
    return max(range(len(v)), key=lambda i: v[i])


# ---------------------------------------------------------------------------------------------
# Models


def parse_configs(text):
    configs = []
    for part in text.split(":"):
        part = part.strip()
        if not part:
            continue
        try:
            d, w = (int(x) for x in part.split(","))
        except ValueError:
            raise ValueError(f"bad config {part!r}: expected d,w (e.g. 5,100)")
        if d < 2 or w < 1:
            raise ValueError(f"bad config {part!r}: need d >= 2 Gemm layers and w >= 1")
        configs.append((d, w))
    if not configs:
        raise ValueError("--configs is empty")
    return configs


def parse_cnn_configs(text):
    """CNN configs: [(label, ONNX path)]; a bundled name resolves to assets/models/NAME.onnx.

    A config containing `/` or ending in `.onnx` is a path to an ONNX file, labelled by its stem,
    whose input is STEM_input.json beside it. Raises ValueError (bad usage) for a missing file
    or a label used twice.
    """
    models = os.path.join(REPO, "assets", "models")
    configs = []
    for part in text.split(":"):
        part = part.strip()
        if not part:
            continue
        if "/" in part or part.endswith(".onnx"):
            path = os.path.abspath(os.path.expanduser(part))
            stem = os.path.splitext(os.path.basename(path))[0]
            where = path
        else:
            stem, path = part, os.path.join(models, f"{part}.onnx")
            where = f"bundled model {part!r}"
        inp = os.path.join(os.path.dirname(path), f"{stem}_input.json")
        if not os.path.isfile(path):
            raise ValueError(f"config {part!r}: no ONNX file {path}")
        if not os.path.isfile(inp):
            raise ValueError(f"config {part!r}: {where} has no input JSON {inp}")
        if any(stem == c[0] for c in configs):
            raise ValueError(f"config {part!r}: label {stem!r} is used twice")
        configs.append((stem, path))
    if not configs:
        raise ValueError("--configs is empty")
    return configs


def prepare_bundled(out_dir, stem, onnx_path):
    """A CNN config (bundled or a path): its ONNX and JSON files as they are.

    The JSON files lie beside the ONNX file: STEM_input.json (the proven input), and
    STEM_calibration.json and STEM_test.json where they exist (else the input JSON).
    Accuracy is measured on `STEM_test.json` against its labels where the file exists (the
    trained digits CNN); for a model with random weights the "labels" are the float model's
    argmax on the input rows, so accuracy equals the agreement with float.
    """
    models = os.path.dirname(onnx_path)
    pick = lambda *names: next(os.path.join(models, n) for n in names if os.path.exists(os.path.join(models, n)))
    try:
        paths = {
            "name": stem,
            "dir": os.path.join(out_dir, "models", stem),
            "onnx": onnx_path,
            "input": pick(f"{stem}_input.json"),
            "calibration": pick(f"{stem}_calibration.json", f"{stem}_input.json"),
            "test": pick(f"{stem}_test.json", f"{stem}_input.json"),
        }
    except StopIteration:
        raise BenchError(f"no {stem}_input.json beside {onnx_path}")
    os.makedirs(paths["dir"], exist_ok=True)
    with open(paths["test"]) as f:
        test = json.load(f)
    import onnx
    import numpy as np

    sys.path.insert(0, HERE)
    import make_models as mm  # noqa: E402

    model = onnx.load(paths["onnx"])
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    per_row = [1 if not shape[0] else shape[0]] + shape[1:]
    logits = [mm.run_ort(model, np.asarray(r, dtype=np.float32).reshape(per_row)) for r in test["input_data"]]
    float_argmax = [int(np.asarray(l).reshape(-1).argmax()) for l in logits]
    labels = test.get("labels", float_argmax)
    params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    paths["meta_data"] = {"config": stem, "parameters": params, "labels": labels, "float_argmax": float_argmax}
    log(f"config {stem}: {onnx_path}, {params} initializer values, {len(labels)} accuracy samples")
    return paths


def prepare_model(out_dir, d, w):
    """Train (or load from cache) the d-layer width-w digits MLP; returns a dict of paths."""
    name = f"{d}x{w}"
    mdir = os.path.join(out_dir, "models", f"mlp_{name}")
    paths = {
        "name": name,
        "dir": mdir,
        "onnx": os.path.join(mdir, "model.onnx"),
        "calibration": os.path.join(mdir, "calibration.json"),
        "input": os.path.join(mdir, "input.json"),
        "test": os.path.join(mdir, "test.json"),
        "meta": os.path.join(mdir, "meta.json"),
    }
    if os.path.exists(paths["meta"]):
        with open(paths["meta"]) as f:
            meta = json.load(f)
        if meta.get("version") == MODEL_CACHE_VERSION and all(
            os.path.exists(paths[k]) for k in ("onnx", "calibration", "input", "test")
        ):
            log(f"config {name}: cached model in {mdir}")
            paths["meta_data"] = meta
            return paths

    sys.path.insert(0, HERE)
    import make_models as mm  # noqa: E402  (numpy, onnx, onnxruntime, scikit-learn)
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    os.makedirs(mdir, exist_ok=True)
    log(f"config {name}: training MLPClassifier hidden={(w,) * (d - 1)} on digits")
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    clf = MLPClassifier(
        hidden_layer_sizes=(w,) * (d - 1), activation="relu", max_iter=600, random_state=0,
        tol=1e-5,
    )
    t0 = time.perf_counter()
    clf.fit(x_tr, y_tr)
    train_s = time.perf_counter() - t0
    weights = [np.ascontiguousarray(m.T) for m in clf.coefs_]  # [out, in] for transB=1
    model = mm.gemm_chain(weights, clf.intercepts_, [1, 64], f"digits_mlp_{name}")
    n = mm.N_TEST_SAMPLES
    xs, ys = x_te[:n], y_te[:n]
    logits = np.concatenate([mm.run_ort(model, xs[i : i + 1]) for i in range(len(xs))])
    float_argmax = [int(v) for v in logits.argmax(1)]
    float_acc = float((logits.argmax(1) == ys).mean())
    import onnx

    onnx.save(model, paths["onnx"])
    mm.write_json(mdir, "calibration.json", {"input_data": mm.rows(x_tr[: mm.N_CALIBRATION])})
    mm.write_json(mdir, "input.json", {"input_data": mm.rows(xs[:1]), "output_data": mm.rows(logits[:1], 6)})
    mm.write_json(mdir, "test.json", {"input_data": mm.rows(xs), "output_data": mm.rows(logits, 6)})
    meta = {
        "version": MODEL_CACHE_VERSION,
        "config": name,
        "gemm_layers": d,
        "width": w,
        "parameters": int(sum(m.size for m in weights) + sum(b.size for b in clf.intercepts_)),
        "labels": [int(v) for v in ys],
        "float_argmax": float_argmax,
        "float_accuracy": float_acc,
        "sklearn_test_accuracy": float(clf.score(x_te, y_te)),
        "train_s": train_s,
    }
    with open(paths["meta"], "w") as f:
        json.dump(meta, f)
    log(f"config {name}: trained in {train_s:.1f} s, float accuracy {float_acc:.2f} on {n} "
        f"held-out samples")
    paths["meta_data"] = meta
    return paths


# ---------------------------------------------------------------------------------------------
# zkml


def parse_setup_params(stdout):
    """P of zkml setup's `model:     PATH (N layers, P parameters)` line, or None."""
    for line in stdout.splitlines():
        m = re.match(r"model:\s.*\((\d+) layers, (\d+) parameters\)\s*$", line)
        if m:
            return int(m.group(2))
    return None


def bench_zkml(runner, zkml, model, repeats, public_weights=False):
    name, meta = model["name"], model["meta_data"]
    wdir = os.path.join(os.path.dirname(os.path.dirname(model["dir"])), "zkml", name)
    os.makedirs(wdir, exist_ok=True)
    pk, vk = os.path.join(wdir, "model.pk"), os.path.join(wdir, "model.vk")

    log(f"config {name}: zkml setup")
    out, setup_wall, _ = runner.run(
        [zkml, "setup", model["onnx"], "--out", wdir, "--calibration", model["calibration"]]
        + (["--public-weights"] if public_weights else []),
        f"zkml setup ({name})",
    )
    setup_ms = None
    for line in out.splitlines():
        if line.startswith("setup:") and line.rstrip().endswith("ms"):
            setup_ms = float(line.split()[1])
    if setup_ms is None:
        log(f"config {name}: zkml setup printed no 'setup: X ms' line; using the wall time")
        setup_ms = setup_wall
    params = parse_setup_params(out)
    if params is None:
        params = meta.get("parameters")
        log(f"config {name}: zkml setup printed no 'model: ... (N layers, P parameters)' line; "
            f"using {params} from the ONNX file")

    log(f"config {name}: zkml run on {len(meta['labels'])} test samples (accuracy)")
    out, _, _ = runner.run(
        [zkml, "run", "--pk", pk, "--input", model["test"], "--json"], f"zkml run ({name})"
    )
    res = parse_json_output(out, f"zkml run ({name})")
    outputs = res.get("outputs")
    if not outputs or len(outputs) != len(meta["labels"]):
        raise BenchError(f"zkml run ({name}): expected {len(meta['labels'])} outputs")
    q_argmax = [argmax(o) for o in outputs]
    accuracy = sum(a == b for a, b in zip(q_argmax, meta["labels"])) / len(q_argmax)
    agreement = sum(a == b for a, b in zip(q_argmax, meta["float_argmax"])) / len(q_argmax)
    if "argmax_agreement" in res and res["argmax_agreement"] != round(agreement * len(q_argmax)):
        log(f"warning: zkml run reports argmax_agreement {res['argmax_agreement']}, "
            f"bench computed {agreement * len(q_argmax):.0f}")

    rows, phases = [], []
    for i in range(repeats):
        proof = os.path.join(wdir, f"proof_{i}.bin")
        log(f"config {name}: zkml prove {i + 1}/{repeats}")
        out, prove_wall, rss = runner.run(
            [zkml, "prove", "--pk", pk, "--input", model["input"], "--proof", proof, "--json"],
            f"zkml prove ({name}, run {i})",
        )
        p = parse_json_output(out, f"zkml prove ({name})")
        log(f"config {name}: zkml verify {i + 1}/{repeats}")
        out, verify_wall, _ = runner.run(
            [zkml, "verify", "--vk", vk, "--proof", proof, "--json"],
            f"zkml verify ({name}, run {i})",
        )
        v = parse_json_output(out, f"zkml verify ({name})")
        if v.get("valid") is not True:
            raise BenchError(f"zkml verify ({name}, run {i}): proof did not verify: {v}")
        outs = v.get("outputs") or [[]]
        phases.append(p.get("phases_ms", {}))
        rows.append({
            "config": name,
            "system": "zkml",
            "run": i,
            "params": params,
            "setup_ms": setup_ms,
            "prove_ms": p.get("prove_ms"),
            "verify_ms": v.get("verify_ms"),
            "proof_bytes": p.get("proof_bytes"),
            "peak_rss_mb": rss,
            "accuracy": accuracy,
            "float_agreement": agreement,
            "setup_wall_ms": setup_wall,
            "prove_wall_ms": prove_wall,
            "verify_wall_ms": verify_wall,
            "witness_ms": None,
            "output_argmax": argmax(outs[0]) if outs[0] else None,
            "float_argmax": meta["float_argmax"][0],
            "argmax_match_zkml": None,
        })
    return rows, phases


# ---------------------------------------------------------------------------------------------
# EZKL: each step runs in `python bench.py _ezkl_worker STEP ARGS_JSON` (peak RSS per step).


def _resolve(x):
    """EZKL's Python API returns plain values or awaitables depending on version/function."""
    if inspect.iscoroutine(x):
        return asyncio.run(x)
    if inspect.isawaitable(x):
        async def wait():
            return await x
        return asyncio.run(wait())
    return x


def ezkl_worker(step, args):
    import ezkl

    res = {}
    t0 = time.perf_counter()
    if step == "prepare":
        ra = ezkl.PyRunArgs()
        ra.input_visibility = "public"
        ra.output_visibility = "public"
        ra.param_visibility = "fixed"
        t = time.perf_counter()
        assert _resolve(ezkl.gen_settings(args["onnx"], args["settings"], py_run_args=ra)), "gen_settings"
        res["gen_settings_ms"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        assert _resolve(ezkl.calibrate_settings(
            args["calibration"], args["onnx"], args["settings"], "resources"
        )), "calibrate_settings"
        res["calibrate_ms"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        assert _resolve(ezkl.compile_circuit(args["onnx"], args["compiled"], args["settings"])), "compile_circuit"
        res["compile_ms"] = (time.perf_counter() - t) * 1e3
        with open(args["settings"]) as f:
            settings = json.load(f)
        res["logrows"] = settings["run_args"]["logrows"]
        res["input_scale"] = settings["run_args"]["input_scale"]
        res["param_scale"] = settings["run_args"]["param_scale"]
        res["output_scales"] = settings.get("model_output_scales")
    elif step == "srs":
        _resolve(ezkl.gen_srs(args["srs"], args["logrows"]))
    elif step == "setup":
        assert _resolve(ezkl.setup(args["compiled"], args["vk"], args["pk"], args["srs"])), "setup"
    elif step == "prove":
        t = time.perf_counter()
        _resolve(ezkl.gen_witness(args["input"], args["compiled"], args["witness"], args["vk"], args["srs"]))
        res["witness_ms"] = (time.perf_counter() - t) * 1e3
        t = time.perf_counter()
        _resolve(ezkl.prove(args["witness"], args["compiled"], args["pk"], args["proof"], args["srs"]))
        res["prove_only_ms"] = (time.perf_counter() - t) * 1e3
        with open(args["proof"]) as f:  # the returned dict lacks pretty_public_inputs
            proof = json.load(f)
        hexp = proof.get("hex_proof") or ""
        res["proof_bytes"] = (len(hexp) - 2) // 2 if hexp.startswith("0x") else len(proof.get("proof") or [])
        res["outputs"] = [[float(v) for v in row] for row in proof["pretty_public_inputs"]["rescaled_outputs"]]
    elif step == "verify":
        ok = _resolve(ezkl.verify(args["proof"], args["settings"], args["vk"], args["srs"]))
        res["valid"] = bool(ok)
    elif step == "accuracy":
        with open(args["test"]) as f:
            rows = json.load(f)["input_data"]
        scale = args["output_scale"]
        outs = []
        with tempfile.TemporaryDirectory() as tmp:
            inp, wit = os.path.join(tmp, "in.json"), os.path.join(tmp, "wit.json")
            for row in rows:
                with open(inp, "w") as f:
                    json.dump({"input_data": [row]}, f)
                w = _resolve(ezkl.gen_witness(inp, args["compiled"], wit))
                if not isinstance(w, dict):
                    with open(wit) as f:
                        w = json.load(f)
                outs.append([ezkl.felt_to_float(v, scale) for v in w["outputs"][0]])
        res["outputs"] = outs
    else:
        raise SystemExit(f"unknown ezkl step {step}")
    res["ms"] = (time.perf_counter() - t0) * 1e3
    print(json.dumps(res))


def ensure_ezkl():
    try:
        import ezkl  # noqa: F401
    except ImportError:
        log("ezkl is not installed: pip install ezkl")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "ezkl"])
        if r.returncode != 0:
            raise BenchError("--run-ezkl: `pip install ezkl` failed")
    out = subprocess.run(
        [sys.executable, "-c", "import ezkl; print(getattr(ezkl, '__version__', '?'))"],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise BenchError(f"--run-ezkl: cannot import ezkl:\n{out.stderr[-2000:]}")
    return out.stdout.strip()


def bench_ezkl(runner, model, repeats, zkml_argmax, timeout, params):
    name, meta = model["name"], model["meta_data"]
    out_dir = os.path.dirname(os.path.dirname(model["dir"]))
    edir = os.path.join(out_dir, "ezkl", name)
    srs_dir = os.path.join(out_dir, "ezkl", "srs")
    os.makedirs(edir, exist_ok=True)
    os.makedirs(srs_dir, exist_ok=True)
    a = {
        "onnx": model["onnx"],
        "calibration": model["calibration"],
        "input": model["input"],
        "test": model["test"],
        "settings": os.path.join(edir, "settings.json"),
        "compiled": os.path.join(edir, "network.ezkl"),
        "pk": os.path.join(edir, "pk.key"),
        "vk": os.path.join(edir, "vk.key"),
        "witness": os.path.join(edir, "witness.json"),
    }

    def step(s, extra=None, label=None):
        args = dict(a, **(extra or {}))
        out, wall, rss = runner.run(
            [sys.executable, os.path.abspath(__file__), "_ezkl_worker", s, json.dumps(args)],
            f"ezkl {label or s} ({name})",
            timeout=timeout,
        )
        return parse_json_output(out, f"ezkl {s} ({name})"), wall, rss

    log(f"config {name}: ezkl gen_settings + calibrate_settings + compile_circuit")
    prep, prep_wall, _ = step("prepare")
    logrows = prep["logrows"]
    srs = os.path.join(srs_dir, f"kzg{logrows}.srs")
    a["srs"] = srs
    srs_ms = None
    if not os.path.exists(srs):
        log(f"config {name}: ezkl gen_srs logrows={logrows} (local, cached in {srs_dir})")
        r, _, _ = step("srs", {"logrows": logrows}, "gen_srs")
        srs_ms = r["ms"]
    else:
        log(f"config {name}: ezkl SRS for logrows={logrows} cached")
    log(f"config {name}: ezkl setup")
    st, st_wall, st_rss = step("setup")
    setup_ms = prep["gen_settings_ms"] + prep["calibrate_ms"] + prep["compile_ms"] + st["ms"]

    log(f"config {name}: ezkl gen_witness on {len(meta['labels'])} test samples (accuracy)")
    acc, _, _ = step("accuracy", {"output_scale": (prep.get("output_scales") or [None])[0]})
    q_argmax = [argmax(o) for o in acc["outputs"]]
    accuracy = sum(x == y for x, y in zip(q_argmax, meta["labels"])) / len(q_argmax)
    agreement = sum(x == y for x, y in zip(q_argmax, meta["float_argmax"])) / len(q_argmax)

    rows = []
    for i in range(repeats):
        proof = os.path.join(edir, f"proof_{i}.json")
        log(f"config {name}: ezkl gen_witness + prove {i + 1}/{repeats}")
        p, prove_wall, rss = step("prove", {"proof": proof})
        log(f"config {name}: ezkl verify {i + 1}/{repeats}")
        v, verify_wall, _ = step("verify", {"proof": proof})
        if v.get("valid") is not True:
            raise BenchError(f"ezkl verify ({name}, run {i}): proof did not verify")
        out_argmax = argmax(p["outputs"][0])
        rows.append({
            "config": name,
            "system": "ezkl",
            "run": i,
            "params": params,
            "setup_ms": setup_ms,
            "prove_ms": p["witness_ms"] + p["prove_only_ms"],
            "verify_ms": v["ms"],
            "proof_bytes": p["proof_bytes"],
            "peak_rss_mb": rss,
            "accuracy": accuracy,
            "float_agreement": agreement,
            "setup_wall_ms": prep_wall + st_wall,
            "prove_wall_ms": prove_wall,
            "verify_wall_ms": verify_wall,
            "witness_ms": p["witness_ms"],
            "output_argmax": out_argmax,
            "float_argmax": meta["float_argmax"][0],
            "argmax_match_zkml": out_argmax == zkml_argmax,
        })
        if out_argmax != zkml_argmax:
            log(f"warning: config {name}: EZKL argmax {out_argmax} != zkml argmax {zkml_argmax} "
                f"on the proven input")
    details = {
        "logrows": logrows,
        "input_scale": prep["input_scale"],
        "param_scale": prep["param_scale"],
        "gen_settings_ms": prep["gen_settings_ms"],
        "calibrate_ms": prep["calibrate_ms"],
        "compile_ms": prep["compile_ms"],
        "setup_only_ms": st["ms"],
        "setup_peak_rss_mb": st_rss,
        "srs_ms": round(srs_ms, 1) if srs_ms is not None else "cached",
        "pk_bytes": os.path.getsize(a["pk"]),
    }
    return rows, details


# ---------------------------------------------------------------------------------------------
# Reporting


def validate(rows):
    problems = []
    for r in rows:
        for k in REQUIRED:
            v = r.get(k)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                problems.append(f"metric {k!r} missing for config {r['config']} "
                                f"system {r['system']} run {r['run']}")
        if r["system"] == "ezkl" and r.get("witness_ms") is None:
            problems.append(f"metric 'witness_ms' missing for config {r['config']} ezkl run {r['run']}")
    if problems:
        raise BenchError("missing metrics:\n  " + "\n  ".join(problems))


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def summarize(rows, configs, phases, ezkl_details, env_line):
    from tabulate import tabulate

    headers = ["config", "system", "setup ms", "prove ms", "prove wall ms", "verify ms",
               "verify wall ms", "proof bytes", "peak RSS MB", "accuracy", "float agreement"]
    table, ratios = [], []
    for name in configs:
        by = {s: [r for r in rows if r["config"] == name and r["system"] == s]
              for s in ("zkml", "ezkl")}
        for s, rs in by.items():
            if not rs:
                continue
            table.append([name, s, med(rs, "setup_ms"), med(rs, "prove_ms"),
                          med(rs, "prove_wall_ms"), med(rs, "verify_ms"),
                          med(rs, "verify_wall_ms"), int(med(rs, "proof_bytes")),
                          med(rs, "peak_rss_mb"), rs[0]["accuracy"], rs[0]["float_agreement"]])
        if by["zkml"] and by["ezkl"]:
            z, e = med(by["zkml"], "prove_ms"), med(by["ezkl"], "prove_ms")
            zw, ew = med(by["zkml"], "prove_wall_ms"), med(by["ezkl"], "prove_wall_ms")
            ratios.append([name, z, e, e / z, ew / zw,
                           "yes" if all(r["argmax_match_zkml"] for r in by["ezkl"]) else "NO"])
    md = [f"# Benchmark summary\n\n{env_line}\n\nMedians over the repeats "
          f"(prove/verify ms: as reported by the tool; wall: the subprocess).\n"]
    md.append(tabulate(table, headers, tablefmt="github",
                       floatfmt=("", "", ".1f", ".1f", ".1f", ".2f", ".1f", ".0f", ".1f", ".2f",
                                 ".2f")))
    if ratios:
        md.append("\n\n## EZKL / ZKML prove time\n")
        md.append(tabulate(ratios, ["config", "zkml prove ms", "ezkl prove ms",
                                    "ratio ezkl/zkml", "ratio (wall)", "same argmax"],
                           tablefmt="github", floatfmt=("", ".1f", ".1f", ".1f", ".1f", "")))
    pts = param_points(rows, configs)
    if pts:
        md.append("\n\n## Prove time vs parameters\n")
        md.append(params_table(pts))
    keys = sorted({k for name in configs for p in phases.get(name) or [] for k in p})
    ph_rows = []
    for name in configs:
        ps = phases.get(name) or []
        if ps:
            total = statistics.median([sum(p.values()) for p in ps])
            ph_rows.append([name] + [statistics.median([p.get(k, 0.0) for p in ps]) for k in keys]
                           + [total])
    if ph_rows:
        md.append("\n\n## ZKML prove phases (median ms)\n")
        md.append(tabulate(ph_rows, ["config"] + keys + ["sum"], tablefmt="github",
                           floatfmt=".2f"))
    if ezkl_details:
        md.append("\n\n## EZKL setup details\n")
        keys = ["logrows", "input_scale", "param_scale", "gen_settings_ms", "calibrate_ms",
                "compile_ms", "setup_only_ms", "setup_peak_rss_mb", "srs_ms", "pk_bytes"]
        md.append(tabulate([[n] + [ezkl_details[n].get(k) for k in keys] for n in ezkl_details],
                           ["config"] + keys, tablefmt="github", floatfmt=".1f"))
    return "\n".join(md) + "\n"


def param_points(rows, configs):
    """[{config, params, zkml, ezkl}] per config of rows: its parameter count and the median
    prove_ms of each system (None where the system did not run)."""
    points = []
    for name in configs:
        rs = [r for r in rows if r["config"] == name]
        params = next((r["params"] for r in rs if r.get("params") is not None), None)
        points.append({
            "config": name,
            "params": params,
            "zkml": med([r for r in rs if r["system"] == "zkml"], "prove_ms"),
            "ezkl": med([r for r in rs if r["system"] == "ezkl"], "prove_ms"),
        })
    return points


def params_table(points):
    from tabulate import tabulate

    return tabulate([[p["config"], p["params"], p["zkml"]] for p in points],
                    ["config", "params", "zkml prove ms (median)"], tablefmt="github",
                    floatfmt=("", "", ".1f"), intfmt=",")


def plot_params(points, path, title):
    """Median prove time against parameter count, both log scale, one labelled point per
    config (zkml: circles, EZKL: squares); points without a parameter count are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for s, marker in (("zkml", "o"), ("ezkl", "s")):
        pts = [p for p in points if p["params"] and p[s] is not None]
        if not pts:
            continue
        ax.scatter([p["params"] for p in pts], [p[s] for p in pts], marker=marker, s=36,
                   label=s.upper(), zorder=3)
        for p in pts:
            ax.annotate(p["config"] if s == "zkml" else f"{p['config']} (EZKL)",
                        (p["params"], p[s]), textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters (log scale)")
    ax.set_ylabel("median prove time (ms, log scale)")
    ax.set_title(title)
    ax.grid(True, which="major", linestyle=":", alpha=0.6)
    ax.margins(x=0.15, y=0.15)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_from(dirs, out_dir):
    """--plot-from: prove_vs_params.png of the configs of earlier runs' results.json."""
    points, seen = [], set()
    for d in dirs:
        with open(os.path.join(d, "results.json")) as f:
            res = json.load(f)
        rows = res.get("rows") or []
        mtype = res.get("model_type") or (res.get("env") or "").split(" ")[0]
        names = list(dict.fromkeys(r["config"] for r in rows))
        for p in param_points(rows, names):
            if mtype == "mlp":
                p["config"] = f"MLP {p['config']}"
            if p["params"] is None:
                log(f"warning: {d}/results.json: config {p['config']} has no params (a run "
                    f"before bench.py recorded them); left out")
                continue
            if p["config"] in seen:
                p["config"] += f" ({os.path.basename(os.path.normpath(d))})"
            seen.add(p["config"])
            points.append(p)
    if not points:
        raise BenchError("--plot-from: no config with a parameter count in " + ", ".join(dirs))
    points.sort(key=lambda p: p["params"])
    path = os.path.join(out_dir, "prove_vs_params.png")
    plot_params(points, path, "Prove time vs parameters")
    print(params_table(points))
    log(f"wrote {path} ({len(points)} configs from {len(dirs)} runs)")


def plot(rows, configs, path, model_type):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = [s for s in ("zkml", "ezkl") if any(r["system"] == s for r in rows)]
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(1.6 * len(configs) + 3, 4.5))
    for j, s in enumerate(systems):
        xs, ys = [], []
        for i, name in enumerate(configs):
            v = med([r for r in rows if r["config"] == name and r["system"] == s], "prove_ms")
            if v is not None:
                xs.append(i + (j - (len(systems) - 1) / 2) * width)
                ys.append(v)
        bars = ax.bar(xs, ys, width, label=s.upper())
        ax.bar_label(bars, labels=[f"{y:.0f}" for y in ys], fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(configs)))
    ax.set_xticklabels([f"MLP {c}" if model_type == "mlp" else c for c in configs])
    ax.set_ylabel("median prove time (ms, log scale)")
    ax.set_title("Prove time per config (d Gemm layers x width)" if model_type == "mlp"
                 else "Prove time per config")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))
    parser.add_argument("--configs", default=None,
                        help="mlp: d,w pairs separated by ':' (d Gemm layers of width w; default "
                             f"{DEFAULT_MLP}); cnn: bundled model names or paths to ONNX files "
                             f"with STEM_input.json beside them (default {DEFAULT_CNN})")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--run-ezkl", action="store_true", help="also benchmark EZKL")
    parser.add_argument("--public-weights", action="store_true",
                        help="zkml keys hold the weights (setup --public-weights), as EZKL's "
                             "fixed params do, instead of committing to them")
    parser.add_argument("--num-threads", type=int, default=None,
                        help="RAYON_NUM_THREADS for the provers, and pin them to N CPUs")
    parser.add_argument("--model-type", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--output-dir", default=os.path.join(tempfile.gettempdir(), "zkml-bench"))
    parser.add_argument("--zkml", default=os.path.join(REPO, "target", "release", "zkml"),
                        help="path of the zkml binary (default: target/release/zkml)")
    parser.add_argument("--ezkl-timeout", type=int, default=1800,
                        help="seconds allowed to one EZKL step (default 1800)")
    parser.add_argument("--plot-from", default=None, metavar="DIR1,DIR2,...",
                        help="run nothing: draw prove_vs_params.png into --output-dir from the "
                             "results.json of these earlier output dirs")
    args = parser.parse_args()

    if args.plot_from is not None:
        if args.configs is not None or args.run_ezkl:
            parser.error("--plot-from runs nothing: it takes no --configs or --run-ezkl")
        dirs = [os.path.abspath(d) for d in args.plot_from.split(",") if d.strip()]
        if not dirs:
            parser.error("--plot-from is empty")
        for d in dirs:
            if not os.path.isfile(os.path.join(d, "results.json")):
                parser.error(f"--plot-from: no results.json in {d}")
        out_dir = os.path.abspath(args.output_dir)
        os.makedirs(out_dir, exist_ok=True)
        try:
            plot_from(dirs, out_dir)
        except (BenchError, ValueError, KeyError) as e:
            print(f"bench.py: FAILED: {e}", file=sys.stderr)
            return 1
        return 0

    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.num_threads is not None and args.num_threads < 1:
        parser.error("--num-threads must be >= 1")
    if args.model_type == "cnn":
        try:
            configs = parse_cnn_configs(args.configs or DEFAULT_CNN)
        except ValueError as e:
            parser.error(str(e))
    else:
        try:
            configs = parse_configs(args.configs or DEFAULT_MLP)
        except ValueError as e:
            parser.error(str(e))
    zkml = os.path.abspath(args.zkml)
    if not os.access(zkml, os.X_OK):
        print(f"bench.py: zkml binary not found at {zkml} (cargo build --release, or --zkml)",
              file=sys.stderr)
        return 2
    out_dir = os.path.abspath(args.output_dir)
    os.makedirs(out_dir, exist_ok=True)
    runner = Runner(args.num_threads)

    try:
        ezkl_version = ensure_ezkl() if args.run_ezkl else None
        rows, phases, ezkl_details, names = [], {}, {}, []
        for config in configs:
            if args.model_type == "cnn":
                model = prepare_bundled(out_dir, *config)
            else:
                model = prepare_model(out_dir, *config)
            name = model["name"]
            names.append(name)
            zrows, zphases = bench_zkml(runner, zkml, model, args.repeats, args.public_weights)
            rows += zrows
            phases[name] = zphases
            if args.run_ezkl:
                erows, details = bench_ezkl(runner, model, args.repeats,
                                            zrows[0]["output_argmax"], args.ezkl_timeout,
                                            zrows[0]["params"])
                rows += erows
                ezkl_details[name] = details
        validate(rows)
    except BenchError as e:
        print(f"bench.py: FAILED: {e}", file=sys.stderr)
        return 1

    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        wr.writeheader()
        for r in rows:
            wr.writerow({k: r.get(k) for k in CSV_FIELDS})
    labels = names if args.model_type == "cnn" else [f"{d},{w}" for d, w in configs]
    env_line = (f"{args.model_type} configs {':'.join(labels)}, repeats {args.repeats}, threads "
                f"{args.num_threads or 'default'}, nproc {os.cpu_count()}, zkml weights "
                f"{'public' if args.public_weights else 'committed'}"
                + (f", ezkl {ezkl_version}" if ezkl_version else ""))
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"env": env_line, "model_type": args.model_type,
                   "params": {p["config"]: p["params"] for p in param_points(rows, names)},
                   "rows": rows, "zkml_phases_ms": phases, "ezkl_details": ezkl_details},
                  f, indent=1)
    summary = summarize(rows, names, phases, ezkl_details, env_line)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(summary)
    plot(rows, names, os.path.join(out_dir, "prove_time.png"), args.model_type)
    plot_params(param_points(rows, names), os.path.join(out_dir, "prove_vs_params.png"),
                f"Prove time vs parameters ({args.model_type})")
    print(summary)
    log(f"wrote {out_dir}/results.csv, results.json, summary.md, prove_time.png, "
        f"prove_vs_params.png")
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "_ezkl_worker":
        ezkl_worker(sys.argv[2], json.loads(sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
