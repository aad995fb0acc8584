from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile as sf

from spectro_diffusion.emotion.corpora import parse_emodb_filename
from spectro_diffusion.emotion.features import (
    AudioReadError,
    MelSettings,
    cached_mel_db,
    griffin_lim,
    istft,
    load_clip,
    mel_db,
    mel_filterbank,
    nnls,
    scale_db,
    stft,
    trim_silence,
    unscale_db,
    write_wav,
)
from spectro_diffusion.emotion.synthetic import synthesize_utterance, write_synthetic_corpus

SMALL = MelSettings(n_fft=512, hop_length=256, n_mels=32, n_frames=32)


def test_scaling_round_trip_and_end_points():
    db = np.array([[-200.0, -50.0, -20.0, 0.0, 10.0, 30.0]])
    x = scale_db(db, db_max=10.0, top_db=80.0)
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.allclose(x[0, [2, 3, 4]], [2 * 50 / 80 - 1, 2 * 70 / 80 - 1, 1.0])
    inside = db[:, 1:4]
    assert np.allclose(unscale_db(scale_db(inside, 10.0, 80.0), 10.0, 80.0), inside, atol=1e-4)


def test_load_clip_resamples_trims_and_fixes_length(tmp_path):
    sr = 16_000
    t = np.arange(int(0.4 * sr)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    sig = np.concatenate([np.zeros(sr // 2), tone])
    sf.write(tmp_path / "a.wav", sig, sr)
    clip = load_clip(tmp_path / "a.wav", SMALL)
    assert clip.shape == (SMALL.num_samples,)
    # Leading half second of silence trimmed: the tone starts within the first 50 ms.
    assert np.abs(clip[: int(0.05 * SMALL.sample_rate)]).max() > 0.2
    with pytest.raises(AudioReadError, match="cannot read"):
        (tmp_path / "bad.wav").write_bytes(b"not audio at all")
        load_clip(tmp_path / "bad.wav", SMALL)


def test_trim_silence_keeps_the_sound_to_within_a_frame():
    tone = 0.3 * np.sin(0.1 * np.arange(1, 12_346))
    x = np.concatenate([np.zeros(5000), tone, np.zeros(7000)])
    kept = trim_silence(x, top_db=40, frame_length=2048, hop_length=512)
    # All of the tone is kept, and at most half a frame plus a hop of silence on each side.
    assert np.count_nonzero(kept) == np.count_nonzero(tone)
    assert len(tone) <= len(kept) <= len(tone) + 2 * (1024 + 512)


def test_mel_peak_of_a_tone_sits_at_its_frequency():
    import librosa

    f = 1000.0
    t = np.arange(SMALL.num_samples) / SMALL.sample_rate
    db = mel_db(0.5 * np.sin(2 * np.pi * f * t).astype(np.float32), SMALL)
    assert db.shape == (SMALL.n_mels, SMALL.n_frames)
    centres = librosa.mel_frequencies(SMALL.n_mels + 2, fmin=SMALL.fmin, fmax=SMALL.fmax)[1:-1]
    peak = int(np.argmax(db[:, SMALL.n_frames // 2]))
    assert abs(peak - int(np.argmin(np.abs(centres - f)))) <= 1


@pytest.mark.parametrize(
    "s", [SMALL, MelSettings(sample_rate=16_000, n_fft=1024, n_mels=80, fmin=50.0, fmax=7000.0)]
)
def test_mel_filterbank_is_librosas(s):
    import librosa

    ref = librosa.filters.mel(
        sr=s.sample_rate,
        n_fft=s.n_fft,
        n_mels=s.n_mels,
        fmin=s.fmin,
        fmax=s.fmax,
        dtype=np.float64,
    )
    assert np.allclose(mel_filterbank(s), ref, rtol=1e-10, atol=1e-14)


def test_nnls_reaches_scipys_optimum_on_every_column():
    from scipy.optimize import nnls as scipy_nnls

    rng = np.random.default_rng(0)
    a = mel_filterbank(SMALL)
    # Mel power columns 60 dB apart in level: each column must converge, quiet ones too.
    b = a @ rng.random((a.shape[1], 5)) ** 4 * np.logspace(0, -6, 5)
    x = nnls(a, b)
    assert x.min() >= 0
    for j in range(b.shape[1]):
        best = scipy_nnls(a, b[:, j])[1]
        ours = np.linalg.norm(a @ x[:, j] - b[:, j])
        assert ours <= best + 1e-6 * np.linalg.norm(b[:, j])


def test_stft_matches_framed_rfft_and_inverts():
    # Independent reference: zero-pad n_fft/2 at both ends, frame every hop, periodic Hann
    # window, rfft per frame (librosa.stft's definition).
    n_fft, hop = 64, 16
    x = np.random.default_rng(1).standard_normal(300)
    padded = np.pad(x, n_fft // 2)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    reference = np.fft.rfft(frames * window, axis=1).T
    got = stft(x, n_fft, hop).numpy()
    assert got.shape == reference.shape
    assert np.allclose(got, reference, atol=1e-9)
    assert np.allclose(istft(stft(x, n_fft, hop), n_fft, hop, len(x)).numpy(), x, atol=1e-9)


def test_griffin_lim_gives_finite_audio_of_the_expected_length():
    rng = np.random.default_rng(0)
    audio = synthesize_utterance("neutral", "03", rng, duration=1.0)[: SMALL.num_samples]
    db = mel_db(audio, SMALL)
    out, sc = griffin_lim(db, SMALL, n_iter=16)
    assert out.shape == ((SMALL.n_frames - 1) * SMALL.hop_length,)
    assert np.isfinite(out).all() and np.abs(out).max() > 0
    assert 0 <= sc < 0.5
    # More iterations fit the magnitude better (the algorithm converges).
    assert griffin_lim(db, SMALL, n_iter=64)[1] < sc


def test_cache_is_keyed_by_settings(tmp_path):
    write_synthetic_corpus(tmp_path / "wav", 1, ("03",), seed=0, duration=0.6)
    path = sorted((tmp_path / "wav").glob("*.wav"))[0]
    a = cached_mel_db(path, SMALL, tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    assert np.array_equal(a, cached_mel_db(path, SMALL, tmp_path / "cache"))
    other = MelSettings(n_fft=512, hop_length=256, n_mels=16, n_frames=32)
    assert cached_mel_db(path, other, tmp_path / "cache").shape == (16, 32)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_writers_sharing_the_cache_never_collide(tmp_path):
    # Two writers filling one cache at once (threads here; processes get distinct pids too):
    # each writes its own temporary name, so every call returns the image and nothing is left
    # half-written. A fixed temporary name made the second writer's rename fail.
    write_synthetic_corpus(tmp_path / "wav", 2, ("03",), seed=0, duration=0.6)
    paths = sorted((tmp_path / "wav").glob("*.wav"))
    cache = tmp_path / "cache"
    expected = [mel_db(load_clip(p, SMALL), SMALL) for p in paths]

    def fill() -> list[np.ndarray]:
        return [cached_mel_db(p, SMALL, cache) for p in paths]

    with ThreadPoolExecutor(4) as pool:
        results = [f.result() for f in [pool.submit(fill) for _ in range(4)]]
    for got in results:
        assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert sorted(q.suffix for q in cache.iterdir()) == [".npy"] * len(paths)


def test_write_wav_refuses_silent_and_non_finite(tmp_path):
    assert "silent" in write_wav(tmp_path / "s.wav", np.zeros(100), 22050)
    assert "non-finite" in write_wav(tmp_path / "n.wav", np.array([0.1, np.nan]), 22050)
    assert not (tmp_path / "s.wav").exists() and not (tmp_path / "n.wav").exists()
    assert write_wav(tmp_path / "ok.wav", np.array([0.0, 0.2, -0.1]), 22050) is None
    data, _ = sf.read(tmp_path / "ok.wav")
    assert abs(np.abs(data).max() - 0.95) < 1e-3


def test_synthetic_corpus_is_seeded_named_like_emodb_and_prosody_differs(tmp_path):
    paths = write_synthetic_corpus(tmp_path, 1, ("03", "08"), seed=3, duration=0.8)
    assert len(paths) == 2 * 7
    emotions = {parse_emodb_filename(p).emotion for p in paths}
    assert emotions == {"anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"}
    a = synthesize_utterance("anger", "03", np.random.default_rng(1))
    assert np.array_equal(a, synthesize_utterance("anger", "03", np.random.default_rng(1)))
    rms = {
        e: np.mean(
            [
                np.sqrt(np.mean(synthesize_utterance(e, "08", np.random.default_rng(i)) ** 2))
                for i in range(3)
            ]
        )
        for e in ("anger", "sadness")
    }
    assert rms["anger"] > 2 * rms["sadness"]  # +8 dB against -6 dB mean energy
    with pytest.raises(ValueError, match="unknown emotion"):
        synthesize_utterance("joy", "03", np.random.default_rng(0))
