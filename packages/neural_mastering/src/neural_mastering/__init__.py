"""Hybrid white-box EQ + Wave-U-Net residual audio mastering (phases 1A / 1B / 1C).

Skeleton: `config` (every config, one loader), `model` (TCN encoder, parametric / adaptive /
residual decoders), `data` (datasets and folders), `synthetic` (seeded synthetic songs),
`objective` (the training loss and its step), `checkpoint` (`load_trained`), `cli/` (the
console scripts). Special to this member: `dsp` (differentiable biquad EQ, BS.1770-4 loudness
and true peak, A-weighting), `demaster` (random de-mastering chains), `mastering` (whole-track
inference), `training`, `evaluation`, `metrics`, `report`, `audio_io`.
"""

__version__ = "0.1.0"
