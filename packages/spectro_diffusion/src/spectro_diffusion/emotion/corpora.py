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
# EmoDB's speakers (Burkhardt et al. 2005): five women, five men.
EMODB_GENDER: dict[str, str] = {
    "03": "m", "08": "f", "09": "f", "10": "m", "11": "m",
    "12": "m", "13": "f", "14": "f", "15": "m", "16": "f",
}  # fmt: skip
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


def speaker_gender(speaker: str) -> str:
    """ "f" or "m" for a corpus-prefixed speaker id ("emodb-03", "ravdess-12"); "?" if unknown.

    EmoDB from its documentation; RAVDESS actors: odd ids male, even ids female.
    """
    corpus, _, ident = speaker.partition("-")
    if corpus == "emodb":
        return EMODB_GENDER.get(ident, "?")
    if corpus == "ravdess" and ident.isdigit():
        return "m" if int(ident) % 2 else "f"
    return "?"


def speaker_folds(
    speakers: Sequence[str], k: int | None = None, balance_gender: bool = False, seed: int = 0
) -> list[list[str]]:
    """Test-speaker groups of a speaker-independent cross-validation.

    k None: leave-one-speaker-out (one fold per speaker, sorted). Otherwise k folds of speakers
    shuffled with `seed` and dealt round-robin; with `balance_gender` women and men are dealt
    separately so that every fold's genders differ by at most one speaker per gender.
    """
    speakers = sorted(set(speakers))
    if k is None:
        return [[s] for s in speakers]
    if not 2 <= k <= len(speakers):
        raise ValueError(f"k speaker folds need 2 <= k <= {len(speakers)} speakers, got {k}")
    rng = random.Random(seed)
    groups = [speakers]
    if balance_gender:
        groups = [[s for s in speakers if speaker_gender(s) == g] for g in ("f", "m", "?")]
    folds: list[list[str]] = [[] for _ in range(k)]
    start = 0
    for group in groups:
        group = list(group)
        rng.shuffle(group)
        for i, s in enumerate(group):
            folds[(start + i) % k].append(s)
        start += len(group)
    return [sorted(f) for f in folds]


def speaker_split(
    utterances: Sequence[Utterance],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    test_speakers: Sequence[str] = (),
) -> dict[str, list[Utterance]]:
    """Speaker-independent train / val / test split: every speaker lands in exactly one split.

    Speakers are shuffled with `seed` and dealt by the fractions of speakers (each split gets
    at least one speaker when there are three or more). `test_speakers` (ids as in the file
    names, e.g. "03", or corpus-prefixed) fixes the test split instead; the others are dealt to
    train and val. Raises ValueError for fewer than 3 speakers or an unknown test speaker.
    """
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < 3:
        raise ValueError(
            f"a speaker-independent split needs at least 3 speakers, found {len(speakers)}"
        )
    if test_speakers:
        by_id = {s.partition("-")[2]: s for s in speakers} | {s: s for s in speakers}
        unknown = [t for t in test_speakers if t not in by_id]
        if unknown:
            known = ", ".join(s.partition("-")[2] for s in speakers)
            raise ValueError(f"test speaker {unknown[0]!r} is not in the corpus ({known})")
        test = {by_id[t] for t in test_speakers}
        rest = [s for s in speakers if s not in test]
        if len(rest) < 2:
            raise ValueError("fixed test speakers leave fewer than 2 speakers for train and val")
        random.Random(seed).shuffle(rest)
        n_val = min(len(rest) - 1, max(1, round(fractions[1] * len(speakers))))
        groups = {"train": set(rest[n_val:]), "val": set(rest[:n_val]), "test": test}
    else:
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
