"""Condition encoder and U-Net shapes, the objective (consistency, loss terms, training
progress), sampling determinism and config validation."""

import re

import numpy as np
import pytest
import torch

from sigshared.errors import ConfigError
from sigshared.training import load_config
from spectro_diffusion.ecg.config import EcgConfig, load_ecg_config
from spectro_diffusion.ecg.data import identity_stats, infer_spec, normalise
from spectro_diffusion.ecg.evaluation import generate
from spectro_diffusion.ecg.features import morlet_frequencies, window_arrays
from spectro_diffusion.ecg.model import ConditionalUNet, EcgDenoiser, pack
from spectro_diffusion.ecg.objective import consistency_error, loss_step, make_diffusion
from spectro_diffusion.ecg.synthetic import synthetic_records
from spectro_diffusion.unet import CrossAttention2d

SPECS = {
    "images": infer_spec((16, 16)),
    "freq_embeddings": infer_spec((16,)),
    "amp_init": infer_spec((40,)),
    "emb_init": infer_spec((8, 8)),
}
TINY = [
    "model.base_channels=8",
    "model.channel_mults=[1,2]",
    "model.num_res_blocks=1",
    "model.condition_dim=16",
    "model.cond_channels=8",
    "model.cond_input_channels=4",
    "model.freq_head_channels=8",
    "model.attention_resolutions=[8]",
    "model.num_heads=2",
    "model.fusion_heads=2",
    "diffusion.num_train_timesteps=100",
]


def batch(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(b, *s.model_shape, generator=g) for n, s in SPECS.items()}


@pytest.mark.parametrize("config", ["default", "low_memory"])
def test_shipped_configs_shapes(config):
    cfg = load_ecg_config(config)
    model = EcgDenoiser(SPECS, cfg.model)
    x = batch()
    cond = model.encoder(x["amp_init"], x["emb_init"])
    grid = 16 // cfg.model.cond_downsample
    assert cond.shape == (2, cfg.model.condition_dim, grid, grid)
    t = torch.tensor([3, 900])
    out = model(pack(x["images"], x["freq_embeddings"]), t, x)
    image, freq = model.layout.unpack(out)
    assert out.shape == (2, 16 * 16 + 16)
    assert image.shape == (2, 1, 16, 16) and freq.shape == (2, 1, 16)
    has_attention = any(isinstance(m, CrossAttention2d) for m in model.unet.modules())
    assert has_attention == cfg.model.use_cross_attention


def test_shipped_configs_keys():
    default, low = load_ecg_config("default"), load_ecg_config("low_memory")
    assert (default.model.base_channels, default.model.condition_dim) == (64, 256)
    assert default.model.use_cross_attention
    assert low.model.base_channels == 32 and low.trainer.batch_size == 1
    assert low.trainer.grad_accum_steps > 1 and not low.model.use_cross_attention
    assert low.model.condition_dim < default.model.condition_dim
    demo = load_ecg_config("demo")
    # Demos are bounded by steps, never by the wall clock.
    assert demo.trainer.max_minutes is None and demo.trainer.max_steps is not None
    real = load_ecg_config("real")
    # The real-data config reads a prepared folder and is resumable in bounded invocations.
    assert real.dataset.path and real.trainer.max_minutes is not None
    # Every key is written in each shipped file (no silent defaults).
    for name in ("default", "low_memory", "demo", "real"):
        assert load_config(EcgConfig, name, package="spectro_diffusion.ecg.configs")


@pytest.mark.parametrize("fusion", ["cross_attention", "concat"])
def test_cross_attention_switch_and_condition_matters(fusion):
    torch.manual_seed(0)
    on = load_ecg_config("default", TINY + [f"model.fusion={fusion}"])
    off = load_ecg_config(
        "default", TINY + [f"model.fusion={fusion}", "model.use_cross_attention=false"]
    )
    m_on, m_off = EcgDenoiser(SPECS, on.model), EcgDenoiser(SPECS, off.model)
    n_on = sum(isinstance(m, CrossAttention2d) for m in m_on.unet.modules())
    assert n_on >= 2 and not any(isinstance(m, CrossAttention2d) for m in m_off.unet.modules())
    x, y = batch(seed=1), batch(seed=2)
    t = torch.tensor([10, 50])
    x_t = pack(x["images"], x["freq_embeddings"])
    for model in (m_on, m_off):
        a = model(x_t, t, x)
        b = model(x_t, t, {"amp_init": y["amp_init"], "emb_init": x["emb_init"]})
        assert not torch.allclose(a, b)


def test_two_dimensional_frequency_embedding_head():
    cfg = load_ecg_config("default", TINY)
    freq2d = infer_spec((2, 4, 6))
    unet = ConditionalUNet(SPECS["images"], freq2d, (4, 4), cfg.model)
    image, freq = unet(
        torch.randn(3, 1, 16, 16),
        torch.randn(3, 2, 4, 6),
        torch.tensor([1, 2, 3]),
        torch.randn(3, 16, 4, 4),
    )
    assert image.shape == (3, 1, 16, 16) and freq.shape == (3, 2, 4, 6)


def prepared_examples(n=6):
    rec = synthetic_records(1, 12.0, 250.0, seed=5)["syn000"][0]
    freqs = morlet_frequencies(0.5, 40.0, 16)
    out = [window_arrays(rec[i * 256 : (i + 1) * 256], 250.0, freqs, 16, 4) for i in range(n)]
    return {k: torch.from_numpy(np.stack([o[k] for o in out]))[:, None] for k in out[0]}


def test_consistency_loss_is_zero_on_prepared_ground_truth():
    data = prepared_examples()
    stats = {n: {"mean": float(v.mean()), "std": float(v.std())} for n, v in data.items()}
    image = normalise(data["images"], stats["images"])
    freq = normalise(data["freq_embeddings"], stats["freq_embeddings"])
    err = consistency_error(image, freq, stats, "logmeanexp")
    assert err.shape == (6,) and float(err.max()) < 1e-8
    mismatched = consistency_error(image, freq.roll(1, dims=0), stats, "logmeanexp")
    assert float(mismatched.min()) > 1e-3


def test_loss_terms_follow_their_definition():
    """With x0 prediction the freq term is the MSE of the embedding part of the output, and the
    total is the packed MSE plus the weighted terms."""
    torch.manual_seed(0)
    cfg = load_ecg_config(
        "default", TINY + ["training.consistency_weight=0.5", "model.dropout=0.0"]
    )
    data = prepared_examples(4)
    specs = {n: infer_spec(tuple(v.shape[2:])) for n, v in data.items()}
    stats = {n: {"mean": float(v.mean()), "std": float(v.std())} for n, v in data.items()}
    diffusion = make_diffusion(cfg, specs, stats)
    batch_ = {n: normalise(v, stats[n]) for n, v in data.items()}
    x0 = pack(batch_["images"], batch_["freq_embeddings"])
    t, noise = torch.tensor([5, 20, 60, 99]), torch.randn_like(x0)
    terms = diffusion.loss(x0, batch_, t=t, noise=noise)
    with torch.no_grad():
        x_t = diffusion.schedule.sqrt_alphas_cumprod[t, None] * x0 + (
            diffusion.schedule.sqrt_one_minus_alphas_cumprod[t, None] * noise
        )
        out = diffusion.denoiser(x_t, t, batch_)
    image, freq = diffusion.denoiser.layout.unpack(out)
    assert torch.allclose(terms["mse"], ((out - x0) ** 2).mean(), rtol=1e-5)
    assert torch.allclose(
        terms["freq_loss"], ((freq - batch_["freq_embeddings"]) ** 2).mean(), rtol=1e-5
    )
    cons = consistency_error(image, freq, stats, "logmeanexp").mean()
    assert torch.allclose(terms["consistency_loss"], cons, rtol=1e-5)
    total = terms["mse"] + 1.0 * terms["freq_loss"] + 0.5 * terms["consistency_loss"]
    assert torch.allclose(terms["loss"], total, rtol=1e-6)


def test_tiny_model_lowers_its_loss():
    torch.manual_seed(0)
    cfg = load_ecg_config("default", TINY)
    data = prepared_examples(8)
    specs = {n: infer_spec(tuple(v.shape[2:])) for n, v in data.items()}
    stats = {n: {"mean": float(v.mean()), "std": float(v.std())} for n, v in data.items()}
    batch_ = {n: normalise(v, stats[n]) for n, v in data.items()}
    model = make_diffusion(cfg, specs, stats)

    def fixed_loss():
        state = torch.get_rng_state()
        torch.manual_seed(123)
        with torch.no_grad():
            value = sum(float(loss_step(model, batch_)["loss"]) for _ in range(4)) / 4
        torch.set_rng_state(state)
        return value

    before = fixed_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(20):
        loss = loss_step(model, batch_)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert fixed_loss() < 0.75 * before


def test_sampling_is_deterministic_at_eta_zero():
    cfg = load_ecg_config("default", TINY)
    torch.manual_seed(0)
    model = make_diffusion(cfg, SPECS, identity_stats()).eval()
    x = batch()
    conds = {n: x[n] for n in ("amp_init", "emb_init")}

    def run(eta, seed, sampler="ddim"):
        gen = torch.Generator().manual_seed(seed)
        inf = load_ecg_config(
            "default",
            TINY
            + [
                f"inference.eta={eta}",
                "inference.num_inference_steps=5",
                f"inference.sampler={sampler}",
            ],
        ).inference
        out = generate(model, identity_stats(), conds, inf, cfg.diffusion, gen)
        return out["images"], out["freq_embeddings"]

    a, b = run(0.0, 1), run(0.0, 1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == (2, 1, 16, 16) and a[1].shape == (2, 1, 16)
    c = run(1.0, 1)
    d = run(1.0, 1)
    assert torch.equal(c[0], d[0])  # same seed, same noise
    assert not torch.allclose(a[0], c[0])  # eta = 1 adds noise at every step
    e = run(0.0, 1, "dpmpp_2m")
    assert e[0].shape == a[0].shape and torch.isfinite(e[0]).all()


def test_identity_stats_leave_values_unchanged():
    x = torch.randn(3, 4)
    assert torch.equal(normalise(x, identity_stats()["images"]), x)


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("training.learning_rate=-1", "training.learning_rate must be > 0 and finite"),
        ("training.learning_rate=.nan", "training.learning_rate must be > 0 and finite"),
        ("model.num_heads=3", "model.num_heads must be a divisor of every U-Net width"),
        ("model.fusion_heads=3", "model.fusion_heads must be a divisor of model.cond_channels"),
        ("model.cond_downsample=3", "model.cond_downsample must be a power of 2"),
        ("diffusion.cond_drop_prob=1.0", "diffusion.cond_drop_prob must be in [0, 1)"),
        ("inference.num_inference_steps=0", "inference.num_inference_steps must be >= 1"),
        ("inference.eta=-0.1", "inference.eta must be >= 0"),
        ("inference.guidance_scale=.inf", "inference.guidance_scale must be finite"),
        ("prepare.image_height=0", "prepare.image_height must be >= 1"),
        ("prepare.coarse_grid=5", "prepare.coarse_grid (5) must divide"),
        ("dataset.max_items=0", "dataset.max_items must be >= 1 or null"),
    ],
)
def test_impossible_config_values_are_refused_with_their_range(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_ecg_config("demo", [override])


def test_guidance_needs_a_model_trained_with_condition_dropout():
    cfg = load_ecg_config("default", TINY + ["inference.guidance_scale=2"])
    model = make_diffusion(cfg, SPECS, identity_stats())
    x = batch()
    with pytest.raises(ConfigError, match="diffusion.cond_drop_prob > 0"):
        generate(model, identity_stats(), x, cfg.inference, cfg.diffusion)
    guided = load_ecg_config("default", TINY + ["diffusion.cond_drop_prob=0.1"])
    model = make_diffusion(guided, SPECS, identity_stats())
    inf = load_ecg_config("default", TINY + ["inference.num_inference_steps=2"]).inference
    one = generate(model, identity_stats(), x, inf, guided.diffusion, torch.Generator())
    inf.guidance_scale = 3.0
    three = generate(model, identity_stats(), x, inf, guided.diffusion, torch.Generator())
    assert not torch.allclose(one["images"], three["images"])
