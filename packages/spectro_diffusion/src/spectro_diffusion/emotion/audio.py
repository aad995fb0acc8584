"""Generated spectrograms -> WAV files through Griffin-Lim, with a per-file report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spectro_diffusion.emotion.features import MelSettings, griffin_lim, unscale_db, write_wav


def spectrograms_to_wavs(
    images: np.ndarray,
    names: list[str],
    out_dir: str | Path,
    mel: MelSettings,
    db_max: float,
    top_db: float,
    n_iter: int = 60,
) -> list[dict]:
    """Write `out_dir/<name>.wav` for each (n_mels, n_frames) scaled image.

    Returns one record per image: its file (None when not written), the spectral convergence
    of the Griffin-Lim reconstruction and, for a clip not written, the reason (silent or
    non-finite).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for image, name in zip(images, names):
        audio, sc = griffin_lim(unscale_db(image, db_max, top_db), mel, n_iter=n_iter)
        path = out / f"{name}.wav"
        problem = write_wav(path, audio, mel.sample_rate)
        records.append(
            {
                "file": None if problem else str(path),
                "spectral_convergence": sc,
                "problem": problem,
            }
        )
    return records
