"""Shared fixtures: the bundled digits MLP, its data, and a proving key made once."""

import json
from pathlib import Path

import numpy as np
import pytest

import zkml

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "assets" / "models"
MLP = MODELS / "digits_mlp_5x100.onnx"
FIXTURES = ROOT / "crates" / "cli" / "tests" / "fixtures" / "activations"


def rows(path: Path, key: str = "input_data") -> np.ndarray:
    return np.asarray(json.loads(path.read_text())[key], dtype=np.float64)


@pytest.fixture(scope="session")
def calibration() -> np.ndarray:
    return rows(MODELS / "digits_mlp_5x100_calibration.json")


@pytest.fixture(scope="session")
def digits() -> np.ndarray:
    """100 test images of the digits data set, (100, 64) float64."""
    return rows(MODELS / "digits_mlp_5x100_test.json")


@pytest.fixture(scope="session")
def pk(calibration: np.ndarray) -> zkml.ProvingKey:
    return zkml.setup(MLP, calibration=calibration)


@pytest.fixture(scope="session")
def proof(pk: zkml.ProvingKey, digits: np.ndarray) -> zkml.Proof:
    return pk.prove(digits[:8])
