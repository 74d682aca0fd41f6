"""i-PI path-integral MD driven by SE3TCalculator through ASE's socket client (examples/ipi)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.io import write
from helpers import calc, ethanol, small_model

from se3t_calc import save_model

ipi = pytest.importorskip("ipi.scripting")

DRIVER = Path(__file__).resolve().parents[1] / "examples" / "ipi" / "driver.py"
NBEADS = 4


def _start_driver(model_file: Path, structure: Path, socket: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = ["--model", model_file, "--structure", structure, "--socket", socket, "--device", "cpu"]
    return subprocess.Popen(
        [sys.executable, DRIVER, *map(str, argv)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # i-PI 3.3 uses threading.currentThread
def test_pimd_with_four_beads_receives_se3t_forces(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # i-PI writes its outputs and checkpoint here
    model = small_model(seed=8)
    save_model(model, tmp_path / "model.pt")
    molecule = ethanol(0)
    molecule.set_cell([12.0, 12.0, 12.0])  # i-PI needs a cell; the socket sends pbc=False below
    write(tmp_path / "ethanol.xyz", molecule)
    beads = []
    for k in range(NBEADS):
        bead = molecule.copy()
        bead.rattle(0.02, seed=k)
        beads.append(bead)
    socket = f"se3t-test-{uuid.uuid4().hex[:8]}"
    forcefield = ipi.forcefield_xml("se3t", mode="unix", address=socket).replace(
        "mode='unix'", "mode='unix' pbc='false'"
    )
    xml = ipi.simulation_xml(
        beads,
        forcefield,
        ipi.motion_nvt_xml(0.5 * units.fs, path_integrals=True),  # ASE units
        temperature=300.0 * units.kB,
        output="<output prefix='pimd'><properties stride='1' filename='out'> [ step, potential ] "
        "</properties></output>",
    )
    simulation = ipi.InteractiveSimulation(xml)  # binds the socket; the driver connects to it
    driver = _start_driver(tmp_path / "model.pt", tmp_path / "ethanol.xyz", socket)
    try:
        simulation.run(3)
        structures = simulation.get_structures()
    finally:
        driver.kill()
        output = driver.communicate(timeout=30)[0]
        Path(f"/tmp/ipi_{socket}").unlink(missing_ok=True)  # i-PI leaves its UNIX socket file
    assert len(structures) == NBEADS, output
    reference = calc(model)
    moved = 0.0
    for bead, start in zip(structures, beads, strict=True):
        received = bead.get_forces()  # what i-PI got from the driver
        bead.pbc = False
        expected = reference.get_forces(bead)
        # i-PI and ASE convert Å and eV to atomic units with constants that differ at 1e-9
        print("max |received - expected|", np.abs(received - expected).max(), np.abs(expected).max())
        np.testing.assert_allclose(received, expected, atol=1e-6, rtol=0)
        moved = max(moved, np.abs(bead.positions - start.positions).max())
    assert moved > 1e-4  # the beads moved: forces of three steps, not of the input
