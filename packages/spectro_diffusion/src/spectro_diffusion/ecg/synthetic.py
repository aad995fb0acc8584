"""Synthetic ECG: a dynamical model of the McSharry et al. (2003) ECGSYN kind.

McSharry, Clifford, Tarassenko, Smith, "A dynamical model for generating synthetic
electrocardiogram signals", IEEE Trans. Biomed. Eng. 50(3), 2003. A point moves round the unit
circle with angular speed omega(t) = 2 pi / RR(t); the ECG z(t) follows

    dz/dt = -sum_i a_i * dtheta_i * exp(-dtheta_i^2 / (2 b_i^2)) * omega - z,

with dtheta_i = (theta - theta_i) wrapped to [-pi, pi), one Gaussian event per wave
i in (P, Q, R, S, T) at phase theta_i (Eq. 3; the factor omega keeps the wave amplitudes
independent of the heart rate, as in the reference C implementation). Because the limit cycle
is attracting, theta(t) is taken on the cycle (theta = integral of omega), which makes the
z-equation linear and lets it be integrated with an IIR filter rather than a Python loop.

Heart-rate variability: RR intervals drawn from a bimodal spectrum (Mayer waves at 0.1 Hz,
respiratory sinus arrhythmia at 0.25 Hz; Eq. 5) with a record's mean and standard deviation.
Baseline wander A sin(2 pi f_resp t) (added to the output rather than as z0 inside the
equation, so its amplitude is the stated one) and white measurement noise. Each record has
two leads: lead 1 is lead 0's event set with its own amplitudes (a smaller R, a deeper S, a
flatter T), as a second projection of the same cardiac vector.

`build_synthetic` writes such records as a prepared dataset; `ensure_synthetic` keeps one
copy per set of prepare settings under runs/spectro_diffusion_ecg/synthetic_<hash>/.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

from spectro_diffusion.ecg.config import PrepareConfig
from spectro_diffusion.ecg.prepare import prepare_dataset
from spectro_diffusion.ecg.records import Channel, Record

SYNTHETIC_ROOT = Path("runs") / "spectro_diffusion_ecg"

# Wave events P, Q, R, S, T: phase (rad), amplitude, width (rad); McSharry et al., Table 1.
THETA = np.array([-np.pi / 3, -np.pi / 12, 0.0, np.pi / 12, np.pi / 2])
A_LEAD0 = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
A_LEAD1 = np.array([0.8, -3.0, 18.0, -12.0, 0.45])
B = np.array([0.25, 0.1, 0.1, 0.1, 0.4])


@dataclass
class RecordParams:
    """What varies between synthetic records (heart rate in beats / min, amplitudes in mV)."""

    heart_rate: float = 70.0
    heart_rate_std: float = 3.0
    lf_hf_ratio: float = 0.5
    wander_amplitude: float = 0.1
    wander_frequency: float = 0.25
    noise_std: float = 0.02
    amplitude_jitter: float = 0.1


def rr_series(
    n_beats: int, params: RecordParams, rng: np.random.Generator, f_beat: float = 1.0
) -> np.ndarray:
    """(n_beats,) RR intervals in seconds with a bimodal (0.1 Hz / 0.25 Hz) spectrum.

    McSharry Eq. 5: power spectrum S(f) = sum of two Gaussians (LF at 0.1 Hz, HF at 0.25 Hz,
    std 0.01 Hz) with ratio LF/HF = lf_hf_ratio; random phases; scaled to the wanted std.
    """
    n = max(int(2 ** np.ceil(np.log2(max(n_beats, 2)))), 8)
    f = np.fft.rfftfreq(n, d=1.0 / f_beat)
    s = params.lf_hf_ratio * np.exp(-((f - 0.1) ** 2) / (2 * 0.01**2)) + np.exp(
        -((f - 0.25) ** 2) / (2 * 0.01**2)
    )
    spectrum = np.sqrt(s) * np.exp(2j * np.pi * rng.random(len(f)))
    spectrum[0] = 0.0
    rr = np.fft.irfft(spectrum, n)[:n_beats]
    rr = rr / max(float(rr.std()), 1e-12)
    mean_rr = 60.0 / params.heart_rate
    std_rr = mean_rr * params.heart_rate_std / params.heart_rate
    return mean_rr + std_rr * rr


def ecg_leads(
    seconds: float, fs: float, params: RecordParams, rng: np.random.Generator
) -> np.ndarray:
    """(2, round(seconds * fs)) synthetic ECG in mV, leads 0 and 1, sampled at fs Hz."""
    n = int(round(seconds * fs))
    dt = 1.0 / fs
    mean_rr = 60.0 / params.heart_rate
    rr = rr_series(int(seconds / mean_rr) + 4, params, rng)
    # Angular speed per sample from the RR interval of the beat in progress.
    beat_ends = np.cumsum(rr)
    t = np.arange(n) * dt
    beat = np.minimum(np.searchsorted(beat_ends, t, side="right"), len(rr) - 1)
    omega = 2 * np.pi / rr[beat]
    theta = np.cumsum(omega) * dt - np.pi
    # Wave widths scale with sqrt(mean RR) (QT shortens at higher rates, as in ECGSYN).
    widths = B * np.sqrt(mean_rr)
    wander = params.wander_amplitude * np.sin(
        2 * np.pi * params.wander_frequency * t + 2 * np.pi * rng.random()
    )
    clean = []
    for amplitudes in (A_LEAD0, A_LEAD1):
        a = amplitudes * (1 + params.amplitude_jitter * rng.standard_normal(5))
        dtheta = np.angle(np.exp(1j * (theta[:, None] - THETA[None, :])))
        drive = -(a * dtheta * np.exp(-(dtheta**2) / (2 * widths**2))).sum(axis=1) * omega
        # Forward Euler of dz/dt = drive - z: z[k] = (1 - dt) z[k-1] + dt drive[k-1].
        clean.append(lfilter([0.0, dt], [1.0, -(1.0 - dt)], drive))
    # ECGSYN rescales its output to millivolts; here lead 0's R peak (above the median) -> 1.2.
    scale = 1.2 / max(float(np.max(clean[0]) - np.median(clean[0])), 1e-12)
    leads = [z * scale + wander + params.noise_std * rng.standard_normal(n) for z in clean]
    return np.stack(leads).astype(np.float64)


def synthetic_records(
    num_records: int, seconds: float, fs: float, seed: int
) -> dict[str, np.ndarray]:
    """{record name: (2, samples) ECG in mV}; records differ in rate, HRV, wander and noise."""
    rng = np.random.default_rng(seed)
    records = {}
    for i in range(num_records):
        params = RecordParams(
            heart_rate=float(rng.uniform(55, 95)),
            heart_rate_std=float(rng.uniform(1, 5)),
            lf_hf_ratio=float(rng.uniform(0.3, 1.5)),
            wander_amplitude=float(rng.uniform(0.0, 0.25)),
            wander_frequency=float(rng.uniform(0.15, 0.35)),
            noise_std=float(rng.uniform(0.005, 0.04)),
        )
        records[f"syn{i:03d}"] = ecg_leads(seconds, fs, params, rng)
    return records


def build_synthetic(out: Path, cfg: PrepareConfig, progress: bool = True) -> dict[str, int]:
    """The synthetic dataset of `cfg` written into the (existing, empty) folder `out` (both
    leads of every record, whatever `cfg.channels` says); returns the windows per split."""
    records = [
        Record(
            name,
            Path(f"{name}.synthetic"),
            [Channel(f"lead{k}", lead, cfg.synthetic_fs) for k, lead in enumerate(leads)],
        )
        for name, leads in synthetic_records(
            cfg.synthetic_records, cfg.synthetic_seconds, cfg.synthetic_fs, cfg.seed
        ).items()
    ]
    return prepare_dataset(records, out, replace(cfg, channels=["all"]), progress=progress)


def synthetic_folder(cfg: PrepareConfig, root: Path = SYNTHETIC_ROOT) -> Path:
    """root/synthetic_<hash>: one folder per set of prepare settings."""
    digest = hashlib.sha1(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]
    return root / f"synthetic_{digest}"


def ensure_synthetic(
    cfg: PrepareConfig, root: Path = SYNTHETIC_ROOT, log: Callable[[str], None] = print
) -> Path:
    """The synthetic dataset folder of `cfg`, built once if absent: into a temporary folder
    unique to this process, then renamed, so concurrent runs never see a partial dataset."""
    folder = synthetic_folder(cfg, root)
    if (folder / "prepare.json").is_file():
        return folder
    log(f"building the synthetic ECG dataset in {folder} (once) ...")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.mkdir()
        counts = build_synthetic(tmp, cfg, progress=False)
        try:
            tmp.rename(folder)
        except OSError:
            # Another process finished the same dataset first; its copy is identical.
            if not (folder / "prepare.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"synthetic dataset: {counts['train']} train and {counts['val']} val windows")
    return folder
