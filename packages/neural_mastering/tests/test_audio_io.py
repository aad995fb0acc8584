"""Output formats: bit depths, TPDF dither at 16 bits, refusals."""

import numpy as np
import pytest
import soundfile as sf

from neural_mastering.audio_io import tpdf_dither_16, write_audio
from sigshared.errors import OutputError


def test_tpdf_dither_error_is_unbiased_with_a_quarter_lsb_squared_variance():
    rng = np.random.default_rng(0)
    x = 0.5 * np.sin(np.linspace(0, 2000, 200_000))[None]
    err = tpdf_dither_16(x, rng) / 32768.0 - x
    lsb = 1 / 32768
    assert abs(err.mean()) < 0.01 * lsb
    # rounding (1/12) + two uniform dithers (2/12): 1/4 LSB^2
    assert err.var() / lsb**2 == pytest.approx(0.25, rel=0.03)


def test_dither_keeps_a_sine_below_one_lsb_that_plain_rounding_erases():
    n = np.arange(1 << 16)
    x = (0.4 / 32768) * np.sin(2 * np.pi * 1000 * n / 44100)[None]
    assert not np.round(x * 32768).any()
    y = tpdf_dither_16(x, np.random.default_rng(1))[0].astype(float)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    k = round(1000 * len(y) / 44100)
    assert spectrum[k - 2 : k + 3].max() > 10 * np.median(spectrum)


@pytest.mark.parametrize(
    "suffix, depth, subtype",
    [
        (".wav", "16", "PCM_16"),
        (".wav", "24", "PCM_24"),
        (".wav", "32f", "FLOAT"),
        (".flac", "16", "PCM_16"),
        (".aiff", "24", "PCM_24"),
    ],
)
def test_bit_depths_are_written(tmp_path, suffix, depth, subtype):
    path = tmp_path / f"a{suffix}"
    x = 0.1 * np.random.default_rng(2).standard_normal((2, 4410))
    write_audio(path, x, 44100, bit_depth=depth)
    assert sf.info(path).subtype == subtype
    y, _ = sf.read(path, always_2d=True)
    assert np.abs(y.T - x).max() < 2.0 / 32768


def test_flac_refuses_float_and_unknown_formats_are_refused(tmp_path):
    with pytest.raises(OutputError, match="FLAC holds integer"):
        write_audio(tmp_path / "a.flac", np.zeros((1, 10)), 44100, bit_depth="32f")
    with pytest.raises(OutputError, match="unknown audio format"):
        write_audio(tmp_path / "a.mp4", np.zeros((1, 10)), 44100)
