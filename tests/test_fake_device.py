"""The calculator's device path, checked without a GPU on fake "meta" tensors.

Every tensor of the path (model parameters and buffers, graph, strain, forces,
stress, packed result) must sit on the calculator's device, and nothing may read
a device value on the host before the one packed result comes back. The planted
faults at the end show that the check catches each kind of mistake.
"""

import functools

import numpy as np
import pytest
import torch
from ase import units
from ase.md.verlet import VelocityVerlet
from fake_device import DEVICE, CopyCounter, fake_accelerator
from helpers import ethanol, small_model
from torch._subclasses.fake_tensor import DataDependentOutputException, FakeTensorDeviceMismatchError

from se3t_calc import SE3TCalculator, SE3TModel, keys


def periodic_ethanol():
    atoms = ethanol()
    atoms.cell = np.eye(3) * 7.0
    atoms.pbc = True
    return atoms


@functools.cache
def trajectory(periodic: bool, steps: int, temperature_K: float = 3000.0) -> list[np.ndarray]:
    """Positions of ``steps`` steps of NVE MD (1 fs) on the CPU, hot enough to move atoms fast."""
    atoms = periodic_ethanol() if periodic else ethanol()
    atoms.calc = SE3TCalculator(small_model(), device="cpu", skin=0.5)
    thermal = np.sqrt(units.kB * temperature_K / atoms.get_masses())[:, None]
    atoms.set_velocities(np.random.default_rng(0).normal(size=(len(atoms), 3)) * thermal)
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    positions = []
    for _ in range(steps):
        dynamics.run(1)
        positions.append(atoms.positions.copy())
    return positions


def fake_calculator(model: SE3TModel, dtype: str, **kwargs) -> SE3TCalculator:
    """A calculator whose device is "meta": its tensors hold no data, and they become
    fake tensors as soon as they are used inside :func:`fake_accelerator`."""
    return SE3TCalculator(model, device=DEVICE, dtype=dtype, **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "periodic"])
@pytest.mark.parametrize(("skin", "pad_edges"), [(0.0, False), (0.5, True)], ids=["exact", "skin-padded"])
def test_device_path_stays_on_the_device(dtype, periodic, skin, pad_edges):
    atoms = periodic_ethanol() if periodic else ethanol()
    n = len(atoms)
    calculator = fake_calculator(small_model(), dtype, skin=skin, pad_edges=pad_edges)
    copies, path = [], trajectory(periodic, 2)
    with fake_accelerator():
        for p in [*calculator.model.parameters(), *calculator.model.buffers()]:
            assert p.device == DEVICE
        for positions in path:
            atoms.positions = positions
            with CopyCounter() as counter:
                packed = calculator.evaluate(atoms, stress=periodic)
            copies.append(len(counter.calls))
            assert packed.device.type == "cpu" and packed.dtype == torch.float64
            assert packed.shape == (1 + 4 * n + 9 * periodic,)
            for tensor in calculator.tensor_path.tensors.values():
                assert tensor.device == DEVICE
    # first call: species + batch, cell, edges, positions in, result out; then at most
    # positions, edges (when the list is rebuilt) and the result
    assert copies[0] == 5 and copies[1] <= 3


def copies_per_step(atoms, steps: int, **kwargs) -> tuple[list[int], list[bool]]:
    """Host↔device copies of each call along an MD run, and whether the list was rebuilt."""
    counts, rebuilt = [], []
    calculator = fake_calculator(small_model(), "float32", **kwargs)
    path = trajectory(bool(atoms.pbc.all()), steps)
    with fake_accelerator():
        for positions in path:
            atoms.positions = positions
            builds = calculator.neighbors.num_builds
            with CopyCounter() as counter:
                calculator.evaluate(atoms, stress=bool(atoms.pbc.all()))
            counts.append(len(counter.calls))
            rebuilt.append(calculator.neighbors.num_builds > builds)
    return counts, rebuilt


@pytest.mark.parametrize("pad_edges", [False, True], ids=["exact", "padded"])
def test_copies_per_md_step_energy_forces_stress(pad_edges):
    """Periodic cell, fixed: positions in and one result out while the neighbour
    list is reused, plus the edges when it is rebuilt."""
    steps = 8
    counts, rebuilt = copies_per_step(periodic_ethanol(), steps, skin=0.5, pad_edges=pad_edges)
    assert counts[0] == 5
    assert 0 < sum(rebuilt[1:]) < steps - 1  # both kinds of step occurred
    assert counts[1:] == [3 if r else 2 for r in rebuilt[1:]]


def test_counter_sees_copies_and_host_factories():
    with fake_accelerator(), CopyCounter() as counter:
        x = torch.zeros(4, device=DEVICE)
        x.copy_(torch.ones(4))
        x.cpu()
        torch.tensor([1, 2], device=DEVICE)
        (x * 2).to(torch.float64)  # a cast on the device is not a copy
    assert counter.take() == ["copy_", "cpu", "tensor"]


# Planted faults: each model below has one mistake that a CPU run does not notice.


class FactoryWithoutDevice(SE3TModel):
    def forward(self, data):
        out = super().forward(data)
        total = out[keys.TOTAL_ENERGY]
        return {**out, keys.TOTAL_ENERGY: total + torch.zeros(total.shape, dtype=total.dtype)}


class TensorLeftBehind(SE3TModel):
    """A plain tensor attribute: ``Module.to`` moves parameters and buffers only."""

    def __init__(self, config):
        super().__init__(config)
        self.offsets = torch.zeros(len(config.species), dtype=torch.float64)

    def forward(self, data):
        out = super().forward(data)
        node = out[keys.NODE_ENERGY] + self.offsets.index_select(0, data[keys.SPECIES])
        return {**out, keys.NODE_ENERGY: node}


class HostSync(SE3TModel):
    def forward(self, data):
        out = super().forward(data)
        if out[keys.TOTAL_ENERGY].abs().max().item() > 1e6:  # reads a device value on the host
            raise RuntimeError("energy out of range")
        return out


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (FactoryWithoutDevice, FakeTensorDeviceMismatchError),
        (TensorLeftBehind, FakeTensorDeviceMismatchError),
        (HostSync, DataDependentOutputException),
    ],
)
def test_planted_faults_are_caught(fault, error):
    reference = small_model()
    model = fault(reference.config).double()
    model.load_state_dict(reference.state_dict())
    atoms = ethanol()
    atoms.calc = SE3TCalculator(model, device="cpu")
    atoms.get_forces()  # on the CPU the fault goes unnoticed
    calculator = fake_calculator(model, "float64")
    with fake_accelerator(), pytest.raises(error):
        calculator.evaluate(atoms, stress=False)
