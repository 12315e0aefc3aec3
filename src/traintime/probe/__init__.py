"""Measure the local device with PyTorch (``pip install "traintime[probe]"``).

An edge, like the CLI: it imports torch (only here), builds real models from the same specs the
time model reads, and hands its measurements to :mod:`traintime.calibration`. Nothing below it
imports it, and ``import traintime`` never imports torch.
"""
