"""EmoDB and RAVDESS file names -> records in one shared emotion label space; speaker splits.

Shared label space (``EMOTIONS``; a class absent from a corpus is simply absent):

=========== ============== ==================
label       EmoDB letter   RAVDESS code
=========== ============== ==================
neutral     N              01
calm        -              02
happiness   F (Freude)     03 (happy)
sadness     T (Trauer)     04 (sad)
anger       W (Wut)        05 (angry)
fear        A (Angst)      06 (fearful)
disgust     E (Ekel)       07
surprise    -              08 (surprised)
boredom     L (Langeweile) -
=========== ============== ==================

EmoDB names look like ``03a01Fa.wav``: speaker (2 digits), text code (3 characters), emotion
letter, version letter. RAVDESS names look like ``03-01-05-01-02-01-12.wav``: modality,
channel (01 speech, 02 song), emotion, intensity, statement, repetition, actor.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happiness",
    "sadness",
    "anger",
    "fear",
    "disgust",
    "surprise",
    "boredom",
)
EMODB_LETTERS: dict[str, str] = {
    "W": "anger",
    "L": "boredom",
    "E": "disgust",
    "A": "fear",
    "F": "happiness",
    "T": "sadness",
    "N": "neutral",
}
RAVDESS_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}
_EMODB_RE = re.compile(r"^(\d{2})([a-z]\d{2})([A-Z])([a-z])$")
_RAVDESS_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class Utterance:
    """One labelled recording. `speaker` is corpus-prefixed so corpora never share one."""

    path: str
    corpus: str
    emotion: str
    speaker: str
    text: str
    vocal_channel: str = "speech"
    intensity: str = "normal"


def _stem(name: str | Path) -> str:
    p = Path(name)
    if p.suffix.lower() != ".wav":
        raise ValueError(f"{p.name}: not a .wav file")
    return p.stem


def parse_emodb_filename(name: str | Path) -> Utterance:
    """An EmoDB file name -> Utterance; ValueError naming the file and the broken rule."""
    stem = _stem(name)
    m = _EMODB_RE.match(stem)
    if m is None:
        raise ValueError(
            f"{Path(name).name}: EmoDB names are 2-digit speaker, text code like a01, "
            "emotion letter, version letter (e.g. 03a01Fa.wav)"
        )
    speaker, text, letter, _ = m.groups()
    if letter not in EMODB_LETTERS:
        raise ValueError(
            f"{Path(name).name}: emotion letter {letter!r} is not one of "
            f"{''.join(EMODB_LETTERS)} (the sixth character of an EmoDB name)"
        )
    return Utterance(str(name), "emodb", EMODB_LETTERS[letter], f"emodb-{speaker}", text)


def parse_ravdess_filename(name: str | Path) -> Utterance:
    """A RAVDESS file name -> Utterance; ValueError naming the file and the broken rule."""
    stem = _stem(name)
    m = _RAVDESS_RE.match(stem)
    if m is None:
        raise ValueError(
            f"{Path(name).name}: RAVDESS names are seven 2-digit fields joined by '-' "
            "(modality-channel-emotion-intensity-statement-repetition-actor)"
        )
    modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if modality not in ("01", "02", "03"):
        raise ValueError(f"{Path(name).name}: modality {modality} is not 01, 02 or 03")
    if channel not in ("01", "02"):
        raise ValueError(f"{Path(name).name}: vocal channel {channel} is not 01 speech/02 song")
    if emotion not in RAVDESS_CODES:
        raise ValueError(f"{Path(name).name}: emotion code {emotion} is not 01..08")
    if intensity not in ("01", "02"):
        raise ValueError(f"{Path(name).name}: intensity {intensity} is not 01 or 02")
    return Utterance(
        str(name),
        "ravdess",
        RAVDESS_CODES[emotion],
        f"ravdess-{actor}",
        f"{statement}-{repetition}",
        "speech" if channel == "01" else "song",
        "normal" if intensity == "01" else "strong",
    )


@dataclass
class CorpusScan:
    """The usable utterances of a folder and the files skipped, each with its reason."""

    corpus: str
    utterances: list[Utterance]
    skipped: list[str]


def detect_corpus(root: Path) -> str:
    """'ravdess' when `root` holds Actor_XX folders, else 'emodb'."""
    if any(p.is_dir() and p.name.startswith("Actor_") for p in root.iterdir()):
        return "ravdess"
    return "emodb"


def scan_corpus(root: str | Path, corpus: str = "auto", include_song: bool = False) -> CorpusScan:
    """Every WAV under `root` parsed by the corpus's rules.

    Names that break the convention are listed in `skipped` (with the reason) rather than
    aborting the scan. RAVDESS keeps audio-only (modality 03) speech files unless
    `include_song`, which adds the audio-only song files.
    """
    root = Path(root)
    if corpus not in ("auto", "emodb", "ravdess"):
        raise ValueError(f"corpus must be auto, emodb or ravdess, got {corpus!r}")
    if corpus == "auto":
        corpus = detect_corpus(root)
    parse = parse_emodb_filename if corpus == "emodb" else parse_ravdess_filename
    utterances, skipped = [], []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav"):
        try:
            u = parse(path)
        except ValueError as err:
            skipped.append(str(err))
            continue
        if corpus == "ravdess":
            modality = path.stem.split("-")[0]
            if modality != "03" or (u.vocal_channel == "song" and not include_song):
                continue
        utterances.append(u)
    return CorpusScan(corpus, utterances, skipped)


def speaker_split(
    utterances: Sequence[Utterance],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> dict[str, list[Utterance]]:
    """Speaker-independent train / val / test split: every speaker lands in exactly one split.

    Speakers are shuffled with `seed` and dealt by the fractions of speakers (each split gets
    at least one speaker when there are three or more). Raises ValueError for fewer than 3.
    """
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < 3:
        raise ValueError(
            f"a speaker-independent split needs at least 3 speakers, found {len(speakers)}"
        )
    random.Random(seed).shuffle(speakers)
    n = len(speakers)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = max(1, n - n_val - n_test)
    groups = {
        "train": set(speakers[:n_train]),
        "val": set(speakers[n_train : n_train + n_val]),
        "test": set(speakers[n_train + n_val :]),
    }
    return {name: [u for u in utterances if u.speaker in spk] for name, spk in groups.items()}
