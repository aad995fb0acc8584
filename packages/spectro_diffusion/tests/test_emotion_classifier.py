import numpy as np
import torch
from torch.utils.data import ConcatDataset

from sigshared.training import Trainer, TrainerConfig
from spectro_diffusion.emotion.config import DataConfig
from spectro_diffusion.emotion.data import prepare_data
from spectro_diffusion.emotion.evaluation import confusion_matrix, frechet_distance, predict
from spectro_diffusion.emotion.features import MelSettings
from spectro_diffusion.emotion.model import EmotionClassifier
from spectro_diffusion.emotion.objective import classifier_loss_step


def test_classifier_learns_the_synthetic_classes_on_an_unseen_speaker(tmp_path):
    cfg = DataConfig(
        cache_dir=str(tmp_path),
        synthetic_per_class=3,
        synthetic_speakers=4,
        mel=MelSettings(n_fft=1024, hop_length=512, n_mels=24, n_frames=24),
    )
    data = prepare_data(cfg)
    train = ConcatDataset([data.splits["train"], data.splits["val"]])
    test = data.splits["test"]
    torch.manual_seed(0)
    net = EmotionClassifier(len(data.classes), (8, 16, 32), 32, dropout=0.0)
    tcfg = TrainerConfig(
        batch_size=16,
        max_steps=80,
        max_epochs=1000,
        ema_decay=None,
        progress=False,
        seed=0,
        checkpoint_every_epochs=1000,
        monitor="none",
    )
    optim = torch.optim.AdamW(net.parameters(), lr=3e-3)
    Trainer(net, classifier_loss_step, optim, tcfg, tmp_path / "run", device="cpu").fit(train)
    pred, emb = predict(net, test.images)
    accuracy = float((pred == test.labels).float().mean())
    assert accuracy > 2.0 / len(data.classes), accuracy  # chance is 1/7 on the unseen speaker
    assert emb.shape == (len(test), 32)
    matrix = confusion_matrix(test.labels, pred, len(data.classes))
    assert matrix.sum() == len(test) and np.trace(matrix) == int((pred == test.labels).sum())


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert abs(frechet_distance(a, a)) < 1e-6
    # Same covariance (identity), means 2 apart on one axis: distance |mu_a - mu_b|^2 = 4.
    b = rng.standard_normal((4000, 3)) + np.array([2.0, 0, 0])
    assert abs(frechet_distance(a, b) - 4.0) < 0.2
    # Means equal, variance 4 against 1 on every axis: 3 * (1 + 4 - 2 * 2) = 3.
    c = 2 * rng.standard_normal((4000, 3))
    assert abs(frechet_distance(a, c) - 3.0) < 0.3
