"""Hybrid white-box EQ + Wave-U-Net residual audio mastering (phases 1A / 1B / 1C).

Modules: `dsp` (differentiable biquad EQ, BS.1770-4 loudness and true peak, A-weighting),
`model` (TCN encoder, parametric / adaptive / residual decoders), `losses`, `synthetic`
(seeded synthetic songs), `demaster` (random de-mastering chains), `data` (datasets and audio
I/O), `mastering` (whole-track chunked inference), and the CLIs `train`, `infer`, `evaluate`.
"""

__version__ = "0.1.0"
