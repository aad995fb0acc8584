"""ECG application: a conditional diffusion U-Net that generates a scalogram image and its
frequency embedding jointly from two initialisations (a waveform `amp_init` and a coarse image
`emb_init`).

Skeleton: `config` (every config, one loader), `model` (ConditionEncoder, ConditionalUNet and
the EcgDenoiser adapter), `data` (dataset layout, pairing report, normalisation), `synthetic`
(McSharry-style ECG generator and the synthetic dataset), `objective` (GaussianDiffusion and
the loss step), `checkpoint` (`load_trained`), `cli/` (ecg-prepare, ecg-train, ecg-infer,
ecg-analyze). Also: `records` (WFDB / CSV / NPY readers), `prepare` (records -> dataset),
`features` (Morlet scalogram and the derived arrays), `training`, `evaluation`, `inference`,
`analysis`, `metrics`, `plots`.
"""
