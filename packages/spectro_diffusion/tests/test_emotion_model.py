import torch

from sigshared.training import Trainer, TrainerConfig
from spectro_diffusion.emotion.checkpoint import TrainedGenerator
from spectro_diffusion.emotion.config import load_emotion_config
from spectro_diffusion.emotion.data import SpectrogramDataset
from spectro_diffusion.emotion.generation import sample_spectrograms
from spectro_diffusion.emotion.model import EmotionUNet, build_model
from spectro_diffusion.emotion.objective import build_diffusion, diffusion_loss_step


def _randomise_output(net: EmotionUNet) -> EmotionUNet:
    # The output conv starts at zero (eps = 0); give it weights so inputs can show through.
    torch.nn.init.normal_(net.out[-1].weight, std=0.1)
    return net


def test_unet_shapes_at_128_and_at_a_small_odd_size():
    torch.manual_seed(0)
    cfg = load_emotion_config("default")
    net = build_model(cfg.model, 7).eval()
    with torch.no_grad():
        y = net(torch.randn(1, 1, 128, 128), torch.tensor([999]), torch.tensor([3]))
    assert y.shape == (1, 1, 128, 128)
    small = EmotionUNet(5, 8, (1, 2, 2), 1, (2,), heads=2)
    assert small(torch.randn(2, 1, 17, 23), torch.tensor([0, 5])).shape == (2, 1, 17, 23)


def test_time_and_class_embeddings_change_the_output():
    torch.manual_seed(0)
    net = _randomise_output(EmotionUNet(4, 8, (1, 2), 1, (1,), heads=2)).eval()
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([10, 10])
    y = torch.tensor([0, 0])
    base = net(x, t, y)
    assert not torch.allclose(base, net(x, torch.tensor([500, 500]), y), atol=1e-4)
    assert not torch.allclose(base, net(x, t, torch.tensor([2, 2])), atol=1e-4)
    assert not torch.allclose(base, net(x, t, torch.tensor([4, 4])), atol=1e-4)  # null class
    assert torch.allclose(net(x, t, None), net(x, t, torch.tensor([4, 4])))
    uncond = _randomise_output(EmotionUNet(0, 8, (1, 2), 1, (1,), heads=2)).eval()
    assert uncond.class_embed is None
    assert torch.allclose(uncond(x, t, y), uncond(x, t, torch.tensor([3, 1])))


def test_untrained_model_predicts_zero_noise():
    net = EmotionUNet(3, 8, (1, 2), 1, (1,), heads=2)
    assert torch.count_nonzero(net(torch.randn(2, 1, 8, 8), torch.tensor([1, 2]))) == 0


def _toy_dataset(n: int = 64) -> SpectrogramDataset:
    """Two classes of 16x16 images: a bright low band or a bright high band."""
    y = torch.arange(n) % 2
    x = -torch.ones(n, 1, 16, 16)
    for i in range(n):
        rows = slice(2, 6) if y[i] == 0 else slice(10, 14)
        x[i, 0, rows] = 0.8
    return SpectrogramDataset(x, y)


def test_a_tiny_model_trained_a_few_dozen_steps_lowers_its_loss(tmp_path):
    torch.manual_seed(0)
    cfg = load_emotion_config("tiny")
    model = build_diffusion(cfg, 2)
    data = _toy_dataset()
    fixed = {"x": data.images, "y": data.labels}

    def eval_loss() -> float:
        torch.manual_seed(123)  # same t, noise and dropped labels before and after
        with torch.no_grad():
            return float(diffusion_loss_step(model.eval(), fixed)["loss"])

    before = eval_loss()
    # No per-epoch checkpoints or "best" tracking: only the loss matters here.
    tcfg = TrainerConfig(
        batch_size=16,
        max_steps=30,
        max_epochs=100,
        ema_decay=None,
        progress=False,
        seed=0,
        checkpoint_every_epochs=1000,
        monitor="none",
    )
    optim = torch.optim.AdamW(model.parameters(), lr=2e-3)
    Trainer(model.train(), diffusion_loss_step, optim, tcfg, tmp_path, device="cpu").fit(data)
    after = eval_loss()
    assert after < 0.5 * before, (before, after)


def test_condition_dropout_uses_the_null_class():
    cfg = load_emotion_config("tiny", ["diffusion.cond_drop_prob=0.5"])
    model = build_diffusion(cfg, 3)
    seen = []
    net = model.denoiser
    net.register_forward_pre_hook(lambda mod, args: seen.append(args[2].clone()))
    model.loss(torch.zeros(400, 1, 16, 16), torch.ones(400, dtype=torch.long))
    y = seen[-1]
    assert set(y.tolist()) == {1, net.null_class}
    assert 0.4 < float((y == net.null_class).float().mean()) < 0.6


def test_sampling_shapes_and_determinism():
    torch.manual_seed(0)
    cfg = load_emotion_config("tiny")
    model = build_diffusion(cfg, 3)
    _randomise_output(model.denoiser).eval()
    gen = TrainedGenerator(model, ["a", "b", "c"], 0.0, 80.0, cfg, "model", "emodb", "")
    labels = torch.tensor([0, 1, 2])
    shape = (3, 1, cfg.data.mel.n_mels, cfg.data.mel.n_frames)

    def draw(sampler: str, steps: int, seed: int, eta: float = 0.0) -> torch.Tensor:
        return sample_spectrograms(
            gen,
            labels,
            3,
            num_inference_steps=steps,
            guidance_scale=2.0,
            sampler=sampler,
            eta=eta,
            seed=seed,
        )

    for sampler in ("ddim", "ddpm", "dpmpp_2m"):
        a = draw(sampler, 5, seed=7)
        assert a.shape == shape and a.abs().max() <= 1, sampler
        assert torch.equal(a, draw(sampler, 5, seed=7)), sampler
        assert not torch.equal(a, draw(sampler, 5, seed=8)), sampler
