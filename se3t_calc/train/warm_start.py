"""Start a run from the weights of a trained model: fine-tuning, or a new schedule after a finished run."""

from __future__ import annotations

import dataclasses
from typing import Any

from se3t_calc.checkpoint import load_model
from se3t_calc.config import ModelConfig
from se3t_calc.model import SE3TModel


def initial_model(source: str, given: dict[str, Any]) -> SE3TModel:
    """The trained model a run starts from, ready for the trainer.

    Parameters
    ----------
    source : str
        Model file, or the name of a shipped model (``se3t models`` lists them).
    given : dict
        :class:`ModelConfig` fields given for the run (settings file or flags). The
        model's own configuration is used; a given field may only repeat it.

    Returns
    -------
    SE3TModel
        The model in float32 on the CPU, with its scale and shift (the weights are
        fitted to them) and zero atomic energies: the trainer subtracts the run's E0
        from the labels and stores them in the model it exports.

    Raises
    ------
    ValueError
        Naming every given model setting that differs from the model's own.
    """
    model = load_model(source).float().train()
    own = model.config
    asked = ModelConfig.from_dict({**own.to_dict(), **given})
    differ = [
        f.name for f in dataclasses.fields(ModelConfig) if getattr(asked, f.name) != getattr(own, f.name)
    ]
    if differ:
        described = ", ".join(f"{n} ({getattr(own, n)!r} there, {getattr(asked, n)!r} given)" for n in differ)
        raise ValueError(
            f"init_from={source!r}: the run starts from that model, so its settings are used; "
            f"these differ: {described}. Drop them from the settings file or flags"
        )
    model.readout.atomic_energies.zero_()
    return model
