"""CUDA versions of the key checks; skipped cleanly without a GPU."""

import numpy as np
import pytest
import torch
from helpers import calc, check_e3_equivariance, energy_forces, ethanol, small_model

from se3t_calc import SE3TCalculator

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _cuda(model, dtype="float64", **kwargs):
    return SE3TCalculator(model, device="cuda", dtype=dtype, **kwargs)


def test_cuda_matches_cpu_in_float64():
    model = small_model(invariant="mixed")
    e_cpu, f_cpu = energy_forces(ethanol(), calc(model))
    e_gpu, f_gpu = energy_forces(ethanol(), _cuda(model))
    np.testing.assert_allclose(e_gpu, e_cpu, rtol=1e-10)
    np.testing.assert_allclose(f_gpu, f_cpu, atol=1e-9)


def test_cuda_float32_agrees_with_float64():
    model = small_model()
    e64, f64 = energy_forces(ethanol(), _cuda(model))
    e32, f32 = energy_forces(ethanol(), _cuda(model, dtype="float32"))
    np.testing.assert_allclose(e32, e64, rtol=1e-6)
    np.testing.assert_allclose(f32, f64, atol=1e-4)


def test_cuda_equivariance_and_skin():
    model = small_model()
    check_e3_equivariance(ethanol(), _cuda(model))
    skinned = _cuda(model, skin=0.5)
    atoms = ethanol()
    for step in range(5):
        atoms.positions += 0.02 * np.sin(step + np.arange(3 * len(atoms))).reshape(-1, 3)
        e_skin, f_skin = energy_forces(atoms, skinned)
        e_ref, f_ref = energy_forces(atoms, _cuda(model))
        np.testing.assert_allclose(e_skin, e_ref, rtol=1e-12)
        np.testing.assert_allclose(f_skin, f_ref, atol=1e-10)


def test_cuda_training_matches_cpu_training(tmp_path):
    from helpers import DATA

    from se3t_calc.checkpoint import read_checkpoint
    from se3t_calc.train import TrainConfig, train

    small = dict(hidden_irreps="8x0e+4x1o", num_heads=2, head_channels=2, lmax=2, r_cut=4.0)
    states = []
    for device in ("cpu", "cuda"):
        config = TrainConfig(
            train_file=str(DATA / "ethanol_rmd17.xyz"),
            train_size=20,
            valid_size=5,
            epochs=2,
            batch_size=4,
            device=device,
            dtype="float64",
            output_dir=str(tmp_path / device),
        )
        best = train(config, small)
        SE3TCalculator(best, device="cuda")  # the checkpoint loads on the GPU
        states.append(read_checkpoint(tmp_path / device / "last.pt")["state_dict"])
    for key, value in states[0].items():
        torch.testing.assert_close(states[1][key], value, rtol=1e-7, atol=1e-9)


def _periodic_ethanol():
    atoms = ethanol()
    atoms.cell = np.eye(3) * 7.0
    atoms.pbc = True
    return atoms


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_compiled_matches_eager_with_stress(dtype):
    model = small_model()
    atoms = _periodic_ethanol()
    tolerance = {"float32": 1e-4, "float64": 1e-10}[dtype]
    results = []
    for compile in (False, True, "reduce-overhead"):
        atoms.calc = _cuda(model, dtype=dtype, compile=compile)
        assert atoms.calc.pad_edges  # CUDA pads edges by default
        results.append((atoms.get_stress(), atoms.get_forces(), atoms.get_potential_energy()))
        atoms.positions[0] += 0.01  # a second call: CUDA graphs replay
        results[-1] += (atoms.get_forces(),)
        atoms.positions[0] -= 0.01
    for result in results[1:]:
        for got, expected in zip(result, results[0], strict=True):
            np.testing.assert_allclose(got, expected, atol=tolerance, rtol=tolerance)


def test_cuda_stress_matches_cpu():
    model = small_model()
    atoms = _periodic_ethanol()
    atoms.calc = calc(model)
    expected = atoms.get_stress()
    atoms.calc = _cuda(model)
    np.testing.assert_allclose(atoms.get_stress(), expected, atol=1e-12)


def test_cuda_shipped_model_by_name():
    atoms = ethanol()
    atoms.calc = SE3TCalculator("rmd17-ethanol", device="auto", dtype="float64")
    assert atoms.calc.device.type == "cuda" and atoms.calc.skin > 0
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    e_cpu, f_cpu = energy_forces(atoms, SE3TCalculator("rmd17-ethanol", device="cpu"))
    np.testing.assert_allclose(energy, e_cpu, rtol=1e-10)
    np.testing.assert_allclose(forces, f_cpu, atol=1e-9)


def test_md_step_does_not_synchronise_before_the_result_copy():
    """With the neighbour list reused, upload and evaluation of an MD step queue work
    on the GPU without waiting for it; only the copy of the packed result does."""
    atoms = _periodic_ethanol()
    calculator = _cuda(small_model(), dtype="float32", skin=0.5)
    atoms.calc = calculator
    atoms.get_stress()  # first call: uploads everything, stress from now on
    atoms.positions += 0.01
    builds = calculator.neighbors.num_builds
    torch.cuda.set_sync_debug_mode("error")
    try:
        calculator.load(atoms)
        packed = calculator.tensor_path.compute(num_atoms=len(atoms), stress=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert calculator.neighbors.num_builds == builds
    assert packed.shape == (1 + 4 * len(atoms) + 9,) and torch.isfinite(packed).all()
