"""TorchSim adapter: TorchSim's own validator, equality with SE3TCalculator, batched MD."""

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.md.verlet import VelocityVerlet
from ase.units import fs
from helpers import calc, ethanol, small_model

ts = pytest.importorskip("torch_sim")

from se3t_calc.integrations.torchsim import SE3TTorchSimModel  # noqa: E402

SPECIES = ("H", "C", "O", "Si")
CPU = torch.device("cpu")


def _adapter(model, **kwargs):
    return SE3TTorchSimModel(model, device="cpu", dtype="float64", **kwargs)


def _mixed_batch():
    """Two molecules in vacuum boxes and two rattled Si cells, all periodic."""
    molecules = []
    for frame in (0, 3):
        molecule = ethanol(frame)
        molecule.center(vacuum=6.0)
        molecule.pbc = True
        molecules.append(molecule)
    crystal = bulk("Si", "diamond", a=5.43, cubic=True)
    crystal.rattle(0.05, seed=1)
    sheared = bulk("Si", "diamond", a=5.5) * (2, 1, 1)
    strain = np.array([[0, 0.03, 0], [0.03, 0, -0.02], [0, 0, 0.01]])
    sheared.set_cell(sheared.cell.array @ (np.eye(3) + strain))
    sheared.rattle(0.05, seed=2)
    return [molecules[0], crystal, molecules[1], sheared]


def test_passes_torch_sims_validator():
    from torch_sim.models.interface import validate_model_outputs

    model = _adapter(small_model(("Si", "Fe"), seed=3))
    validate_model_outputs(model, CPU, torch.float64)


def test_batch_equals_the_ase_calculator():
    model = small_model(SPECIES, seed=4)
    structures = _mixed_batch()
    out = _adapter(model)(ts.io.atoms_to_state(structures, CPU, torch.float64))
    assert out["energy"].shape == (4,) and out["stress"].shape == (4, 3, 3)
    start = 0
    for k, atoms in enumerate(structures):
        atoms.calc = calc(model)
        n = len(atoms)
        np.testing.assert_allclose(out["energy"][k].item(), atoms.get_potential_energy(), rtol=1e-12)
        np.testing.assert_allclose(out["forces"][start : start + n].numpy(), atoms.get_forces(), atol=1e-10)
        np.testing.assert_allclose(out["stress"][k].numpy(), atoms.get_stress(voigt=False), atol=1e-10)
        start += n


def test_molecules_without_periodicity_have_no_stress():
    model = small_model(SPECIES, seed=5)
    molecules = [ethanol(1), ethanol(2)]
    out = _adapter(model)(ts.io.atoms_to_state(molecules, CPU, torch.float64))
    assert "stress" not in out
    forces = np.concatenate([calc(model).get_forces(m) for m in molecules])
    np.testing.assert_allclose(out["forces"].numpy(), forces, atol=1e-10)


def test_unknown_element_is_named():
    with pytest.raises(ValueError, match=r"element\(s\) \['Fe'\] not supported"):
        _adapter(small_model(SPECIES))(ts.io.atoms_to_state([bulk("Fe")], CPU, torch.float64))


def test_batched_nve_follows_ase_velocity_verlet():
    """Ten batched TorchSim NVE steps from rest equal ASE's velocity Verlet on each structure."""
    model = small_model(SPECIES, seed=6)
    structures = _mixed_batch()
    adapter = _adapter(model)
    calls = []
    adapter.register_forward_hook(lambda *args: calls.append(1))
    dt = 0.5 * fs  # TorchSim's and ASE's internal time unit are both Å sqrt(amu/eV)
    init, update = ts.nve(adapter, dt=torch.tensor(dt, dtype=torch.float64), kT=torch.tensor(0.0))
    state = init(ts.io.atoms_to_state(structures, CPU, torch.float64))
    structures_at_start = np.concatenate([a.positions for a in structures])
    for _ in range(10):
        state = update(state)
    assert len(calls) == 11  # one model call for the whole batch per step (and one to start)
    start = 0
    for atoms in structures:
        atoms.calc = calc(model)
        VelocityVerlet(atoms, timestep=dt).run(10)
        n = len(atoms)
        # TorchSim wraps positions into the cell: compare modulo lattice vectors
        delta = np.linalg.solve(
            atoms.cell.array.T, (state.positions[start : start + n].numpy() - atoms.positions).T
        )
        delta = (delta - np.round(delta)).T @ atoms.cell.array
        assert np.abs(delta).max() < 1e-9
        assert np.abs(atoms.positions - structures_at_start[start : start + n]).max() > 1e-3  # they moved
        start += n


@pytest.mark.filterwarnings("ignore:Optimize has reached max steps")
def test_langevin_npt_and_cell_relaxation_run_on_a_batch():
    model = small_model(SPECIES, seed=7)
    adapter = _adapter(model)
    structures = _mixed_batch()
    final = ts.integrate(
        structures, adapter, integrator=ts.nvt_langevin, n_steps=5, temperature=300.0, timestep=0.0005
    )
    assert final.n_systems == 4 and torch.isfinite(final.positions).all()
    npt = ts.integrate(
        structures[1::2],  # the two Si cells
        adapter,
        integrator=ts.npt_langevin,
        n_steps=5,
        temperature=300.0,
        timestep=0.0005,
        external_pressure=torch.tensor(0.0, dtype=torch.float64),
    )
    assert torch.isfinite(npt.positions).all() and torch.isfinite(npt.cell).all()
    cells = ts.io.atoms_to_state(structures[1::2], CPU, torch.float64).cell
    assert not torch.allclose(npt.cell, cells)  # the barostat acted on the model's stress
    start = ts.io.atoms_to_state(structures, CPU, torch.float64)
    relaxed = ts.optimize(start, adapter, optimizer=ts.optimizers.frechet_cell_fire, max_steps=20)
    assert (adapter(relaxed)["energy"] < adapter(start)["energy"]).all()
    assert not torch.allclose(relaxed.cell, start.cell)  # the stress moved the cells
