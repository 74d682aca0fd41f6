"""Reusable physics checks, run in float64."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.io import read

from se3t_calc import ModelConfig, SE3TCalculator, SE3TModel

DATA = Path(__file__).parent / "data"


def small_model(species=("H", "C", "O"), seed: int = 0, **overrides) -> SE3TModel:
    """A small random-weight model with a non-trivial readout scale."""
    import torch

    torch.manual_seed(seed)
    settings = dict(
        hidden_irreps="8x0e+4x1o+4x2e", num_heads=2, head_channels=2, num_layers=2, lmax=2, r_cut=4.0
    )
    settings.update(overrides)
    model = SE3TModel(ModelConfig(species=list(species), **settings))
    model.readout.scale.fill_(0.7)
    randomize_products(model)
    return model.double()


def randomize_products(model: torch.nn.Module, scale: float = 0.3) -> None:
    """Random weights, ``scale`` times e3nn's, for the output maps of the node-wise products,
    which start at zero (the product a no-op), so that tests of random models exercise them.
    At e3nn's scale each product squares its input and stacked ones make features in the
    thousands, where the softmax turns an edge on within less than the step of a scan."""
    from se3t_calc.nn.product import NodeProduct

    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, NodeProduct):
                block.up.weight.normal_(std=scale)


def calc(model: SE3TModel, **kwargs) -> SE3TCalculator:
    return SE3TCalculator(model, device="cpu", dtype=kwargs.pop("dtype", "float64"), **kwargs)


def ethanol(frame: int = 0) -> Atoms:
    atoms = read(DATA / "ethanol_rmd17.xyz", index=frame)
    atoms.calc = None
    return atoms


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniform random proper rotation, (3, 3)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def energy_forces(atoms: Atoms, calculator: SE3TCalculator) -> tuple[float, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calculator
    return atoms.get_potential_energy(), atoms.get_forces()


def transformed(atoms: Atoms, matrix: np.ndarray, shift: np.ndarray) -> Atoms:
    """Apply ``x -> x @ matrix.T + shift`` to positions (and the cell)."""
    out = atoms.copy()
    out.positions = atoms.positions @ matrix.T + shift
    if atoms.pbc.any():
        out.cell = atoms.cell.array @ matrix.T
    return out


def check_e3_equivariance(atoms: Atoms, calculator: SE3TCalculator, seed: int = 0, rtol: float = 1e-9):
    """Energy invariant and forces equivariant under rotation, reflection and translation."""
    rng = np.random.default_rng(seed)
    e0, f0 = energy_forces(atoms, calculator)
    scale = np.abs(f0).max()
    for matrix in (random_rotation(rng), -random_rotation(rng), np.eye(3)):
        shift = rng.normal(size=3) * 3.0
        e, f = energy_forces(transformed(atoms, matrix, shift), calculator)
        np.testing.assert_allclose(e, e0, rtol=rtol, atol=rtol * abs(e0))
        np.testing.assert_allclose(f, f0 @ matrix.T, atol=rtol * scale * 10)


def check_permutation_invariance(atoms: Atoms, calculator: SE3TCalculator, seed: int = 0):
    perm = np.random.default_rng(seed).permutation(len(atoms))
    e0, f0 = energy_forces(atoms, calculator)
    e, f = energy_forces(atoms[perm], calculator)
    np.testing.assert_allclose(e, e0, rtol=1e-12)
    np.testing.assert_allclose(f, f0[perm], atol=1e-10 * np.abs(f0).max())


def check_energy_is_work_of_force(
    xs: np.ndarray, energy: np.ndarray, force: np.ndarray, rtol: float = 1e-7, atol: float = 1e-6
) -> None:
    """Along a scan with even spacing and an odd number of points, each energy change over two
    steps equals the work of the force (Simpson's rule, error ~ step^5 where the energy is
    smooth): a jump in the energy, or in the force, breaks it (a force that is continuous
    with a kink does not). ``force`` is the component along the scan, eV/Å."""
    assert len(xs) % 2 == 1
    work = -(force[:-2:2] + 4 * force[1:-1:2] + force[2::2]) * (xs[1] - xs[0]) / 3
    np.testing.assert_allclose(energy[2::2] - energy[:-2:2], work, rtol=rtol, atol=atol)


def finite_difference_forces(atoms: Atoms, calculator: SE3TCalculator, h: float = 1e-5) -> np.ndarray:
    """Central differences of the energy, (N, 3) eV/Å."""
    out = np.zeros((len(atoms), 3))
    for a in range(len(atoms)):
        for k in range(3):
            energies = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.positions[a, k] += sign * h
                energies.append(energy_forces(moved, calculator)[0])
            out[a, k] = -(energies[0] - energies[1]) / (2 * h)
    return out


def finite_difference_stress(atoms: Atoms, calculator: SE3TCalculator, h: float = 1e-5) -> np.ndarray:
    """Central differences of E under symmetric strain, divided by volume; Voigt (6,)."""
    full = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[i, j] += sign * h / 2
                strain[j, i] += sign * h / 2
                moved = atoms.copy()
                moved.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                energies.append(energy_forces(moved, calculator)[0])
            full[i, j] = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()
    return full[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


def as_format_3(data: dict) -> dict:
    """A current checkpoint dict as format 3 stored it (a training checkpoint's state too).

    Format 3's radial MLPs emitted a (key, value) weight pair for every path and channel;
    the key weights of paths that no key reads are filled with random numbers here, which
    the migration to format 4 must drop.
    """
    from se3t_calc.checkpoint import model_from_dict
    from se3t_calc.checksums import run_checksum, weights_checksum
    from se3t_calc.nn.attention import EquivariantAttention

    model = model_from_dict(data)
    generator = torch.Generator().manual_seed(0)
    widen = {}
    for name, layer in model.named_modules():
        if not isinstance(layer, EquivariantAttention):
            continue
        for g, ((_, heads), mlp) in enumerate(zip(layer.groups, layer.radial, strict=True)):
            shape = (layer.tp.num_paths, heads * layer.head_channels)
            key_paths = layer.pairing.key_blocks

            def old(new: torch.Tensor, shape=shape, key_paths=key_paths) -> torch.Tensor:
                values, keys_ = new.split([shape[0] * shape[1], len(key_paths) * shape[1]], dim=1)
                out = torch.randn(new.shape[0], shape[0], 2, shape[1], generator=generator, dtype=new.dtype)
                out[:, :, 1] = values.reshape(-1, *shape)
                out[:, key_paths, 0] = keys_.reshape(-1, len(key_paths), shape[1])
                return out.flatten(1)

            widen[f"{name}.radial.{g}.layer{len(mlp) - 1}.weight"] = old

    def widened(state: dict) -> dict:
        return {k: widen[k](v) if k in widen else v for k, v in state.items()}

    state = widened(data["state_dict"])
    out = {**data, "format_version": 3, "state_dict": state}
    out["checksum"] = weights_checksum(data["config"], state)
    if "training_state" in data:
        training = data["training_state"]
        names = [name for name, _ in model.named_parameters()]
        moments = dict(training["optimizer"]["state"])
        for index, name in enumerate(names):
            if name in widen and index in moments:
                moments[index] = {
                    k: widen[name](v) if torch.is_tensor(v) and v.dim() == 2 else v
                    for k, v in moments[index].items()
                }
        out["training_state"] = {
            **training,
            "model": widened(training["model"]),
            "ema": {**training["ema"], "model": widened(training["ema"]["model"])},
            "optimizer": {**training["optimizer"], "state": moments},
        }
        if "run_checksum" in data:
            out["run_checksum"] = run_checksum(out)
    return out
