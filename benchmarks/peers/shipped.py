"""The shipped rMD17 models that ``bench_peers.py`` times, under the names it times them by.

Plain data, read by ``worker.py`` in every virtual environment, by ``bench_peers.py``,
``speed_accuracy.py`` and the docs tests. The default and fast settings are the same for
every molecule, so their aspirin models stand for all; each accurate model is timed as
itself, since their settings differ.
"""

import re

SHIPPED = {
    "se3t": "rmd17-aspirin",
    "se3t-fast": "rmd17-aspirin-fast",
    "se3t-accurate": "rmd17-aspirin-accurate",
    "se3t-accurate-ethanol": "rmd17-ethanol-accurate",
    "se3t-accurate-malonaldehyde": "rmd17-malonaldehyde-accurate",
    "se3t-accurate-uracil": "rmd17-uracil-accurate",
}
# the models that stand for their settings on every molecule: rmd17-<molecule>[-fast]
PER_MOLECULE = ("se3t", "se3t-fast")


def timed_as(name: str) -> str:
    """The ``bench_peers.py`` model that times the shipped model ``name``, e.g.
    ``rmd17-ethanol-fast`` -> ``se3t-fast``."""
    for model, shipped in SHIPPED.items():
        pattern = re.escape(shipped)
        if model in PER_MOLECULE:  # any molecule in place of aspirin
            pattern = pattern.replace("aspirin", "[a-z]+")
        if re.fullmatch(pattern, name):
            return model
    raise KeyError(f"no bench_peers.py model times {name}")
