"""ECG variant: a conditional DDIM U-Net that generates a scalogram image and its frequency
embedding jointly from two initialisations (a waveform `amp_init` and a coarse image
`emb_init`).

Modules: `features` (Morlet scalogram and the derived arrays), `synthetic` (McSharry-style ECG
generator), `prepare` (`ecg-prepare`), `data` (dataset layout, pairing report, normalisation),
`config`, `model` (ConditionEncoder, ConditionalUNet), `diffusion` (loss and DDIM sampling on
top of `sigshared`), `train` / `infer` / `analyze` (the CLIs), `plots`, `metrics`.
"""
