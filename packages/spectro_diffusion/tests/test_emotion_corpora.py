import pytest

from spectro_diffusion.emotion.corpora import (
    EMOTIONS,
    parse_emodb_filename,
    parse_ravdess_filename,
    scan_corpus,
    speaker_split,
)


def test_emodb_names_map_to_the_shared_label_space():
    u = parse_emodb_filename("03a01Fa.wav")
    assert (u.emotion, u.speaker, u.text, u.corpus) == ("happiness", "emodb-03", "a01", "emodb")
    letters = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "T": "sadness"}
    for letter, emotion in letters.items():
        assert parse_emodb_filename(f"16b10{letter}b.wav").emotion == emotion
    assert parse_emodb_filename("/some/dir/11a05Nc.WAV").emotion == "neutral"
    assert all(parse_emodb_filename(f"03a01{c}a.wav").emotion in EMOTIONS for c in "WLEAFTN")


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("03a01Xa.wav", "emotion letter 'X'"),
        ("3a01Fa.wav", "2-digit speaker"),
        ("03a01Fa.mp3", "not a .wav"),
        ("03-01-05-01-02-01-12.wav", "EmoDB names"),
    ],
)
def test_bad_emodb_names_name_the_file_and_rule(name, rule):
    with pytest.raises(ValueError, match=rule) as err:
        parse_emodb_filename(name)
    assert name.split("/")[-1] in str(err.value)


def test_ravdess_speech_and_song():
    speech = parse_ravdess_filename("03-01-05-01-02-01-12.wav")
    assert (speech.emotion, speech.speaker, speech.vocal_channel) == (
        "anger",
        "ravdess-12",
        "speech",
    )
    assert speech.intensity == "normal"
    song = parse_ravdess_filename("03-02-03-02-01-02-05.wav")
    assert (song.emotion, song.vocal_channel, song.intensity) == ("happiness", "song", "strong")
    codes = {"01": "neutral", "02": "calm", "04": "sadness", "06": "fear", "08": "surprise"}
    for code, emotion in codes.items():
        assert parse_ravdess_filename(f"03-01-{code}-01-01-01-01.wav").emotion == emotion


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("03-01-09-01-02-01-12.wav", "emotion code 09"),
        ("03-03-05-01-02-01-12.wav", "vocal channel 03"),
        ("03-01-05-03-02-01-12.wav", "intensity 03"),
        ("03-01-05-01-02-12.wav", "seven 2-digit fields"),
    ],
)
def test_bad_ravdess_names(name, rule):
    with pytest.raises(ValueError, match=rule):
        parse_ravdess_filename(name)


def test_scan_ravdess_keeps_audio_only_speech_by_default(tmp_path):
    names = {
        "Actor_01": [
            "03-01-05-01-01-01-01.wav",
            "03-02-05-01-01-01-01.wav",
            "01-01-05-01-01-01-01.wav",
        ],
        "Actor_02": ["03-01-04-02-01-01-02.wav", "03-01-99-01-01-01-02.wav"],
    }
    for actor, files in names.items():
        (tmp_path / actor).mkdir()
        for f in files:
            (tmp_path / actor / f).write_bytes(b"")
    scan = scan_corpus(tmp_path)
    assert scan.corpus == "ravdess"
    assert sorted(u.emotion for u in scan.utterances) == ["anger", "sadness"]
    assert len(scan.skipped) == 1 and "03-01-99-01-01-01-02.wav" in scan.skipped[0]
    with_song = scan_corpus(tmp_path, "ravdess", include_song=True)
    assert sorted(u.vocal_channel for u in with_song.utterances) == ["song", "speech", "speech"]


def test_speaker_split_is_speaker_independent_and_complete():
    utts = [
        parse_emodb_filename(f"{spk}a0{i}{c}a.wav")
        for spk in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
        for i in range(1, 3)
        for c in "WTN"
    ]
    parts = speaker_split(utts, (0.7, 0.15, 0.15), seed=1)
    speakers = {k: {u.speaker for u in v} for k, v in parts.items()}
    assert all(speakers.values())
    assert not speakers["train"] & speakers["val"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    assert sum(len(v) for v in parts.values()) == len(utts)
    assert parts == speaker_split(utts, (0.7, 0.15, 0.15), seed=1)
    with pytest.raises(ValueError, match="at least 3 speakers"):
        speaker_split(utts[:6], seed=0)
