#!/usr/bin/env python3
"""Round trip of the Keras fixtures (make_keras_fixtures.py) through the zkml binary.

Usage: check_keras_fixtures.py ZKML_BINARY [FIXTURE_DIR]

For each NAME.onnx: `zkml inspect`; where it is accepted, `zkml setup --calibration
MODEL_calibration.json` (or digits_calibration.json), `zkml prove` on NAME_test.json (50 held-out digits), `zkml verify
--json --input NAME_test.json`, and how many verified argmaxes equal onnxruntime's ("ort_argmax").
Where it is refused, the unsupported ops (or the error) that inspect prints. With the onnx
package, also each fixture's ONNX op types in order. Prints a Markdown table.
"""

import json
import os
import subprocess
import sys
import tempfile

ZKML = sys.argv[1]
DIR = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
    os.path.dirname(__file__), "..", "..", "crates", "cli", "tests", "fixtures", "keras"
)


def run(*args):
    p = subprocess.run([ZKML, *args], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def refusal(text):
    """The unsupported-op lines of inspect's output, or its error line."""
    lines = text.splitlines()
    if "unsupported ops:" in text:
        i = next(k for k, l in enumerate(lines) if l.startswith("unsupported ops:"))
        gaps = [l.strip()[2:] for l in lines[i + 1 :] if l.strip().startswith("- ")]
        if gaps:
            return "; ".join(gaps)
    return next((l for l in lines if l.startswith("error")), lines[-1] if lines else "")


def ops(path):
    try:
        import onnx
    except ImportError:
        return ""
    return " ".join(n.op_type for n in onnx.load(path).graph.node)


def main():
    names = sorted(f[:-5] for f in os.listdir(DIR) if f.endswith(".onnx"))
    print("| fixture | result | detail |\n| --- | --- | --- |")
    sequences = []
    for name in names:
        path = os.path.join(DIR, name + ".onnx")
        model = name.rsplit("_", 1)[0]
        sequences.append(f"{name}: {ops(path)}")
        rc, text = run("inspect", path)
        if rc != 0:
            print(f"| {name} | refused (inspect exit {rc}) | {refusal(text)} |")
            continue
        test = os.path.join(DIR, name + "_test.json")
        calib = os.path.join(DIR, model + "_calibration.json")
        if not os.path.exists(calib):
            calib = os.path.join(DIR, "digits_calibration.json")
        with tempfile.TemporaryDirectory() as tmp:
            steps = [
                ("setup", ["setup", path, "--out", tmp, "--calibration", calib]),
                ("prove", ["prove", "--pk", f"{tmp}/model.pk", "--input", test,
                           "--proof", f"{tmp}/proof"]),
                ("verify", ["verify", "--vk", f"{tmp}/model.vk", "--proof", f"{tmp}/proof",
                            "--input", test, "--json"]),
            ]
            for step, args in steps:
                rc, text = run(*args)
                if rc != 0:
                    last = text.strip().splitlines()[-1] if text.strip() else ""
                    print(f"| {name} | {step} failed (exit {rc}) | {last} |")
                    break
            else:
                outputs = json.loads(text)["outputs"]
                want = json.load(open(test))["ort_argmax"]
                got = [max(range(len(y)), key=y.__getitem__) for y in outputs]
                agree = sum(int(a == b) for a, b in zip(got, want))
                print(f"| {name} | proved and verified | {agree}/{len(want)} argmax agree |")
    print()
    for s in sequences:
        print(s)


if __name__ == "__main__":
    main()
