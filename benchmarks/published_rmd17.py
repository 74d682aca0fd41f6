"""Published rMD17 test errors of other potentials, per molecule, in meV and meV/Å.

One source for every row: Table 4 of the GotenNet paper (Aykent & Xia, "GotenNet:
Rethinking Efficient 3D Equivariant Graph Neural Networks", ICLR 2025), which collects
each model's published rMD17 errors (950 training and 50 validation structures, the
five official splits) in kcal/mol and kcal/mol/Å. They are kept here as printed there
and converted at 1 kcal/mol = 43.364 meV; the conversion reproduces the meV figures of
the MACE paper (Batatia et al. 2022, Table 1) for MACE and NequIP to the digit printed
there (aspirin 6.6 and 8.2 meV/Å, ethanol 2.1 and 2.8).

    python benchmarks/published_rmd17.py            # the table in meV, markdown

``--quick`` prints the same table (it computes nothing).
"""

from __future__ import annotations

import argparse

import quick

MEV_PER_KCAL_MOL = 43.364
SOURCE = "as published, collected in the GotenNet paper (Aykent & Xia, ICLR 2025), Table 4"
MODELS = ("NequIP", "Allegro", "MACE", "TensorNet", "GotenNet")

# molecule -> model -> (energy MAE kcal/mol, force MAE kcal/mol/Å), as printed in the source
_KCAL: dict[str, dict[str, tuple[float, float]]] = {
    "aspirin": {
        "NequIP": (0.0530, 0.1891),
        "Allegro": (0.0530, 0.1683),
        "MACE": (0.0507, 0.1522),
        "TensorNet": (0.0553, 0.2052),
        "GotenNet": (0.0358, 0.1306),
    },
    "azobenzene": {
        "NequIP": (0.0161, 0.0669),
        "Allegro": (0.0277, 0.0600),
        "MACE": (0.0277, 0.0692),
        "TensorNet": (0.0161, 0.0715),
        "GotenNet": (0.0121, 0.0483),
    },
    "benzene": {
        "NequIP": (0.0009, 0.0069),
        "Allegro": (0.0069, 0.0046),
        "MACE": (0.0092, 0.0069),
        "TensorNet": (0.0005, 0.0069),
        "GotenNet": (0.0005, 0.0047),
    },
    "ethanol": {
        "NequIP": (0.0092, 0.0646),
        "Allegro": (0.0092, 0.0484),
        "MACE": (0.0092, 0.0484),
        "TensorNet": (0.0115, 0.0807),
        "GotenNet": (0.0071, 0.0482),
    },
    "malonaldehyde": {
        "NequIP": (0.0184, 0.1176),
        "Allegro": (0.0138, 0.0830),
        "MACE": (0.0184, 0.0945),
        "TensorNet": (0.0184, 0.1245),
        "GotenNet": (0.0129, 0.0830),
    },
    "naphthalene": {
        "NequIP": (0.0208, 0.0300),
        "Allegro": (0.0046, 0.0208),
        "MACE": (0.0115, 0.0369),
        "TensorNet": (0.0046, 0.0369),
        "GotenNet": (0.0039, 0.0240),
    },
    "paracetamol": {
        "NequIP": (0.0323, 0.1361),
        "Allegro": (0.0346, 0.1130),
        "MACE": (0.0300, 0.1107),
        "TensorNet": (0.0300, 0.1361),
        "GotenNet": (0.0212, 0.0928),
    },
    "salicylic": {
        "NequIP": (0.0161, 0.0922),
        "Allegro": (0.0208, 0.0669),
        "MACE": (0.0208, 0.0715),
        "TensorNet": (0.0184, 0.1061),
        "GotenNet": (0.0141, 0.0703),
    },
    "toluene": {
        "NequIP": (0.0069, 0.0369),
        "Allegro": (0.0092, 0.0415),
        "MACE": (0.0115, 0.0346),
        "TensorNet": (0.0069, 0.0392),
        "GotenNet": (0.0044, 0.0261),
    },
    "uracil": {
        "NequIP": (0.0092, 0.0715),
        "Allegro": (0.0138, 0.0415),
        "MACE": (0.0115, 0.0484),
        "TensorNet": (0.0092, 0.0715),
        "GotenNet": (0.0064, 0.0417),
    },
}
MOLECULES = tuple(_KCAL)


def molecule_in(name: str) -> str | None:
    """The rMD17 molecule a file or folder name names (``rmd17_aspirin_test_01.npz``,
    ``rmd17-accurate_uracil_8h``), or None."""
    return next((part for part in name.split("_") if part in _KCAL), None)


def published(molecule: str) -> dict[str, tuple[float, float]]:
    """``model -> (energy MAE meV, force MAE meV/Å)`` for one rMD17 molecule (the name of its
    files, e.g. ``"salicylic"``); empty for a molecule outside rMD17."""
    return {
        model: (round(e * MEV_PER_KCAL_MOL, 2), round(f * MEV_PER_KCAL_MOL, 2))
        for model, (e, f) in _KCAL.get(molecule, {}).items()
    }


def markdown() -> str:
    """Force and energy MAE of every model and molecule, one row per molecule."""
    header = "| molecule | " + " | ".join(f"{m} E / F" for m in MODELS) + " |"
    lines = [header, "| --- |" + " ---: |" * len(MODELS)]
    for molecule in MOLECULES:
        errors = published(molecule)
        cells = [f"{errors[m][0]:.2f} / {errors[m][1]:.1f}" for m in MODELS]
        lines.append(f"| {molecule} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nmeV / meV/Å; {SOURCE}, converted from kcal/mol."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    quick.add_options(parser, out=False)
    parser.parse_args()
    print(markdown())


if __name__ == "__main__":
    main()
