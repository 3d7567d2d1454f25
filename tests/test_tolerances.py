"""The suite's float32 tolerances: as strict as ever on a CPU, TF32's on a GPU."""

import conftest
import numpy as np
import pytest
from conftest import TF32_RTOL, assert_reproduced, matmul_tolerance

ONE_ULP_APART = (np.float32(1.0), np.nextafter(np.float32(1.0), np.float32(2.0)))


def test_on_a_cpu_the_tolerances_are_the_tests_own(monkeypatch):
    monkeypatch.setattr(conftest, "_gpu_settings", lambda: (False, False))
    assert matmul_tolerance(1e-5) == {"rtol": 1e-5, "atol": 0.0}
    assert matmul_tolerance(rtol=1e-4, atol=1e-3, scale=300) == {"rtol": 1e-4, "atol": 1e-3}
    assert_reproduced(np.arange(3.0), np.arange(3.0))
    with pytest.raises(AssertionError):
        assert_reproduced(*ONE_ULP_APART)  # bit for bit


def test_this_device_is_read_not_assumed():
    on_gpu, uses_tf32 = conftest._gpu_settings()
    assert isinstance(on_gpu, bool) and isinstance(uses_tf32, bool)
    assert on_gpu or not uses_tf32
    if not on_gpu:
        assert matmul_tolerance(1e-5, 1e-6) == {"rtol": 1e-5, "atol": 1e-6}


def test_on_a_tf32_gpu_the_tolerances_allow_its_rounding(monkeypatch):
    monkeypatch.setattr(conftest, "_gpu_settings", lambda: (True, True))
    assert matmul_tolerance(1e-5) == {"rtol": TF32_RTOL, "atol": TF32_RTOL}
    assert matmul_tolerance(rtol=1e-2, atol=1e-5, scale=300)["rtol"] == 1e-2  # never tighter
    assert matmul_tolerance(rtol=1e-4, atol=1e-5, scale=300)["atol"] == TF32_RTOL * 300
    # Reproduced up to a few float32 ulps, not up to what a changed fit moves.
    assert_reproduced(*ONE_ULP_APART)
    assert_reproduced(np.array([0.3, 300.0]), np.array([0.3 + 2e-10, 300.0 + 2e-8]))
    with pytest.raises(AssertionError):
        assert_reproduced(np.array([0.3]), np.array([0.3 + 1e-4]))


def test_a_gpu_in_full_float32_keeps_the_tests_own_tolerances(monkeypatch):
    monkeypatch.setattr(conftest, "_gpu_settings", lambda: (True, False))
    assert matmul_tolerance(1e-5, 1e-6) == {"rtol": 1e-5, "atol": 1e-6}
