"""Thin adapters to simulation engines (TorchSim, LAMMPS ML-IAP), one file each.

Each is imported on its own (``from se3t_calc.integrations.torchsim import ...``); the
engines themselves are optional dependencies.
"""
