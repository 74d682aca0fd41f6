"""``se3t learn``: a committee potential learned on the fly from a reference calculator.

:mod:`~se3t_calc.learn.references` (xtb, PySCF, any ASE calculator),
:mod:`~se3t_calc.learn.explore` (rattling, committee MD, selection),
:mod:`~se3t_calc.learn.training` (one round of the committee),
:mod:`~se3t_calc.learn.validate` (independent reference MD, scores),
:mod:`~se3t_calc.learn.settings` and :mod:`~se3t_calc.learn.loop` (the run folder).
"""
