"""SeqVaeTeb: the TEB sequential VAE forecasting 2 minutes of FHR from every feature step.

Flow (shapes at the defaults; B batch, S = 300 feature steps, H = 480 forecast samples):
    x_ph (B, 76 + 4, S): the UP phase harmonics followed by the step channels
        (`teb_vae.quality.validity_channels`: valid FHR share, valid UC share, time since the
        last valid FHR sample, the last valid FHR), so the model can tell filled gaps from
        signal
    x_ph --SourceEncoder--> mu_x (B, S, 16)
    y_st, y_ph (B, 76, S) --TargetEncoder--> mu_y (B, S, 16), logvar_y (B, S, 32)
        prior p(z|y) = N(mu_y, exp(logvar_y[..., :16])); c = logvar_y[..., 16:]
    (mu_x, c) --ConditionalEncoder--> q(z|x,y) = N(mu_post, exp(logvar_post)), z (B, S, 16)
    z --Decoder--> raw_signal_mu, raw_signal_logvar (B, S, H): step i forecasts raw samples
        (i+1)*T .. (i+1)*T + H - 1 (T = decimation factor), see teb_vae.forecast.
    plus a level forecast (`LevelForecast`): a linear map of trailing means (over 1 to 120
        steps) of the order-0 channels of y_st (the local FHR level, S0) and x_ph (the local UP
        level) and of the validity channels at step i to a smooth H-sample curve added to the
        means of step i. Not in the
        design document: it hands the decoder the FHR level at several time scales directly
        instead of through the LSTMs and the KL-regularised latent, which short trainings
        otherwise fail to learn, so the VAE models the departures from it.
    The forecast is an offset from the anchor, the last valid FHR sample (the 4th step
        channel), added to every horizon sample: an untrained model is persistence, and the
        first seconds of the horizon start from the measured level, not from a smoothed one.
Every encoder is causal along S (causal convolutions, unidirectional LSTMs, causal channel
attention), and the decoder works on each step independently, so outputs at step t depend on
inputs at steps <= t only.
"""

from __future__ import annotations

import torch
from torch import nn

from teb_vae.config import (
    ConditionalEncoderConfig,
    DecoderConfig,
    ModelConfig,
    SourceEncoderConfig,
    TargetEncoderConfig,
)
from teb_vae.layers import (
    CausalResidualBlock,
    ChannelReductionBlock,
    FastTemporalSmoother,
    LevelForecast,
    ResidualMLP,
    UpsamplingBlock,
    causal_means,
    geometric_schedule,
    initialization,
)

LOGVAR_RANGE = (-10.0, 10.0)


def _floor(x: float) -> int:
    return int(x)


class _DualPath(nn.Module):
    """Linear path (per-step ResidualMLP) and causal conv path, concatenated: (B, C, L) ->
    (B, L, linear_out + C)."""

    def __init__(self, channels: int, linear_dims: list[int], kernels: list[int], dropout: float):
        super().__init__()
        self.linear = ResidualMLP([channels, *linear_dims], dropout)
        self.convs = nn.Sequential(
            *(CausalResidualBlock(channels, k, dropout=dropout) for k in kernels)
        )
        self.project = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lin = self.linear(x.transpose(1, 2))
        conv = self.project(self.convs(x)).transpose(1, 2)
        return torch.cat([lin, conv], dim=-1)


class SourceEncoder(nn.Module):
    """Source phase harmonics (B, C, L) -> deterministic mu_x (B, L, latent), causal."""

    def __init__(self, input_channels: int, latent_dim: int, cfg: SourceEncoderConfig) -> None:
        super().__init__()
        r = cfg.reduced_channels
        self.reduction = ChannelReductionBlock(input_channels, r, dropout=cfg.dropout)
        self.paths = _DualPath(r, cfg.linear_dims, cfg.conv_kernel_size, cfg.dropout)
        self.fusion = ResidualMLP([cfg.linear_dims[-1] + r, *cfg.fusion_dims], cfg.dropout, True)
        self.lstm = nn.LSTM(
            cfg.fusion_dims[-1],
            cfg.lstm_hidden_dim,
            cfg.lstm_num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.lstm_num_layers > 1 else 0,
        )
        self.output = ResidualMLP([cfg.lstm_hidden_dim, *cfg.output_dims], cfg.dropout, True)
        self.final = ResidualMLP([cfg.output_dims[-1], *cfg.final_dims, latent_dim], cfg.dropout)

    def forward(self, x: torch.Tensor, return_intermediate: bool = False):
        """(B, C, L) -> mu_x (B, L, latent) [, dict of intermediate tensors]."""
        reduced = self.reduction(x)
        fused = self.fusion(self.paths(reduced))
        lstm_out, _ = self.lstm(fused)
        mu_x = self.final(self.output(lstm_out))
        if return_intermediate:
            return mu_x, {"reduced": reduced, "fused": fused, "lstm_output": lstm_out}
        return mu_x

    def get_sequence_encoding(self, x: torch.Tensor, timestep: int) -> torch.Tensor:
        """Causal encoding of steps 0..timestep: (B, C, L) -> (B, timestep + 1, latent)."""
        if not 0 <= timestep < x.shape[-1]:
            raise ValueError(f"timestep must be in [0, {x.shape[-1] - 1}], got {timestep}")
        return self.forward(x[..., : timestep + 1])


class TargetEncoder(nn.Module):
    """Target scattering + phase harmonics (B, C, L) each -> mu_y (B, L, latent),
    logvar_y (B, L, 2 * latent) (first half: prior log-variance, second: conditional
    features), causal."""

    def __init__(self, input_channels: int, latent_dim: int, cfg: TargetEncoderConfig) -> None:
        super().__init__()
        dims = [input_channels, *cfg.reduction_dims]

        def reduction() -> nn.Sequential:
            return nn.Sequential(
                *(
                    ChannelReductionBlock(a, b, dropout=cfg.dropout)
                    for a, b in zip(dims[:-1], dims[1:])
                )
            )

        r = dims[-1]
        self.st_reduction, self.ph_reduction = reduction(), reduction()
        self.st_paths = _DualPath(r, cfg.st_linear_dims, cfg.conv_kernel_size, cfg.dropout)
        self.ph_paths = _DualPath(r, cfg.ph_linear_dims, cfg.conv_kernel_size, cfg.dropout)
        self.st_fuse = ResidualMLP([cfg.st_linear_dims[-1] + r, r], cfg.dropout, True)
        self.ph_fuse = ResidualMLP([cfg.ph_linear_dims[-1] + r, r], cfg.dropout, True)
        self.fusion = ResidualMLP([2 * r, *cfg.fusion_dims], cfg.dropout, True)
        self.lstm = nn.LSTM(
            cfg.fusion_dims[-1],
            cfg.lstm_hidden_dim,
            cfg.lstm_num_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.lstm_num_layers > 1 else 0,
        )
        h = cfg.head_dim
        self.mu_head = ResidualMLP(
            [cfg.lstm_hidden_dim, h, *geometric_schedule(h, latent_dim, cfg.head_hidden, _floor)],
            cfg.dropout,
        )
        self.logvar_head = ResidualMLP(
            [
                cfg.lstm_hidden_dim,
                h,
                *geometric_schedule(h, 2 * latent_dim, cfg.head_hidden, _floor),
            ],
            cfg.dropout,
        )

    def _features(self, scattering_input: torch.Tensor, phase_harmonic_input: torch.Tensor):
        st = self.st_fuse(self.st_paths(self.st_reduction(scattering_input)))
        ph = self.ph_fuse(self.ph_paths(self.ph_reduction(phase_harmonic_input)))
        out, _ = self.lstm(self.fusion(torch.cat([st, ph], dim=-1)))
        return out

    def forward(
        self,
        scattering_input: torch.Tensor,
        phase_harmonic_input: torch.Tensor,
        return_intermediate: bool = False,
    ):
        """-> mu_y (B, L, latent), logvar_y (B, L, 2 latent) clamped to [-10, 10]."""
        h = self._features(scattering_input, phase_harmonic_input)
        mu = self.mu_head(h)
        logvar = self.logvar_head(h).clamp(*LOGVAR_RANGE)
        if return_intermediate:
            return mu, logvar, {"lstm_output": h}
        return mu, logvar

    def get_encoder_features(
        self, scattering_input: torch.Tensor, phase_harmonic_input: torch.Tensor
    ) -> torch.Tensor:
        """Deterministic features without sampling: mu_y (B, L, latent)."""
        return self.mu_head(self._features(scattering_input, phase_harmonic_input))


class ConditionalEncoder(nn.Module):
    """q(z|x,y): (mu_x (B, L, D_x), c (B, L, D_c)) -> mu_post, logvar_post (B, L, latent)."""

    def __init__(
        self, source_dim: int, cond_dim: int, latent_dim: int, cfg: ConditionalEncoderConfig
    ) -> None:
        super().__init__()
        self.fusion = ResidualMLP([source_dim + cond_dim, *cfg.fusion_dims], cfg.dropout, True)
        self.mu = ResidualMLP([cfg.fusion_dims[-1], *cfg.head_dims, latent_dim], cfg.dropout)
        self.logvar = ResidualMLP([cfg.fusion_dims[-1], *cfg.head_dims, latent_dim], cfg.dropout)

    def forward(self, mu_x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fusion(torch.cat([mu_x, c], dim=-1))
        return self.mu(h), self.logvar(h).clamp(*LOGVAR_RANGE)


class Decoder(nn.Module):
    """z (B, S, latent) -> raw_signal_mu, raw_signal_logvar (B, S, horizon), per step.

    Latent MLP -> deep MLP -> two expansions to the horizon, summed: a ResidualMLP straight to
    `horizon` values, and a coarse trajectory of horizon / 16 values upsampled 4x then 4x by
    UpsamplingBlocks. The sum (one channel over the horizon) is refined by convolutions,
    a per-sample MLP and a FastTemporalSmoother, then two conv heads give mean and
    log-variance (clamped to [-10, 10]).
    """

    def __init__(self, latent_dim: int, horizon: int, cfg: DecoderConfig) -> None:
        super().__init__()
        if horizon % 16:
            raise ValueError(f"horizon must be a multiple of 16, got {horizon}")
        self.horizon = horizon
        feat = cfg.deep_dims[-1]
        self.latent = ResidualMLP(
            [latent_dim, *geometric_schedule(latent_dim, cfg.latent_dim_out, cfg.latent_hidden)],
            cfg.dropout,
            True,
        )
        self.deep = ResidualMLP([cfg.latent_dim_out, *cfg.deep_dims], cfg.dropout, True)
        self.expand = ResidualMLP(
            [feat, *geometric_schedule(feat, horizon, cfg.expand_hidden)], cfg.dropout
        )
        u = cfg.upsample_channels
        self.coarse = nn.Linear(feat, u * horizon // 16)
        self.up = nn.Sequential(
            UpsamplingBlock(u, u, 4, horizon // 4, cfg.dropout),
            UpsamplingBlock(u, 1, 4, horizon, cfg.dropout),
        )
        convs: list[nn.Module] = []
        chans = [1, *cfg.conv_channels]
        for a, b in zip(chans[:-1], chans[1:]):
            convs += [nn.Conv1d(a, b, 5, padding=2), _ChannelNorm(b), nn.GELU()]
        self.refine = nn.Sequential(*convs)
        self.post = ResidualMLP([chans[-1], *cfg.post_dims], cfg.dropout, True)
        c = cfg.post_dims[-1]
        self.smoother = FastTemporalSmoother(c, cfg.smoother_kernel, cfg.dropout)
        hc = [c, *cfg.head_channels, 1]

        def head() -> nn.Sequential:
            layers: list[nn.Module] = []
            for a, b in zip(hc[:-1], hc[1:]):
                layers += [nn.Conv1d(a, b, 3, padding=1), nn.GELU()]
            return nn.Sequential(*layers[:-1])

        self.mu_head, self.logvar_head = head(), head()
        self.coarse_channels = u

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        b, s, _ = z.shape
        h = self.deep(self.latent(z)).reshape(b * s, -1)
        coarse = self.coarse(h).reshape(b * s, self.coarse_channels, self.horizon // 16)
        x = (self.expand(h) + self.up(coarse)[:, 0])[:, None]
        x = self.post(self.refine(x).transpose(1, 2)).transpose(1, 2)
        x = self.smoother(x)
        mu = self.mu_head(x).reshape(b, s, self.horizon)
        logvar = self.logvar_head(x).reshape(b, s, self.horizon).clamp(*LOGVAR_RANGE)
        return {"raw_signal_mu": mu, "raw_signal_logvar": logvar}


class _ChannelNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class SeqVaeTeb(nn.Module):
    """The TEB-VAE; see the module docstring. Inputs are channel-first (B, C, S)."""

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        v = cfg.validity_channels
        self.source_encoder = SourceEncoder(
            cfg.input_channels + v, cfg.latent_dim_source, cfg.source
        )
        self.target_encoder = TargetEncoder(cfg.input_channels, cfg.latent_dim_target, cfg.target)
        self.conditional_encoder = ConditionalEncoder(
            cfg.latent_dim_source, cfg.latent_dim_target, cfg.latent_dim_z, cfg.conditional
        )
        context = (2 + v) * len(cfg.level_windows) if cfg.decoder_context else 0
        self.decoder = Decoder(cfg.latent_dim_z + context, cfg.horizon, cfg.decoder)
        self.level_forecast = LevelForecast(2 + v, cfg.horizon, cfg.level_windows)
        # Training steps counted by teb_vae.objective: drives the KL warm-up and is saved with
        # the weights so a resumed run continues the annealing where it stopped.
        self.register_buffer("kld_step", torch.zeros((), dtype=torch.long))
        initialization(self)
        with torch.no_grad():
            self.conditional_encoder.logvar.body[-1].bias.fill_(cfg.posterior_logvar_init)

    def encode(self, y_st: torch.Tensor, y_ph: torch.Tensor, x_ph: torch.Tensor) -> dict:
        """Encoders only: prior, posterior and z (sampled in training, the mean in eval)."""
        mu_x = self.source_encoder(x_ph)
        mu_y, logvar_y = self.target_encoder(y_st, y_ph)
        d = self.cfg.latent_dim_target
        mu_post, logvar_post = self.conditional_encoder(mu_x, logvar_y[..., d:])
        z = mu_post
        if self.training:
            z = mu_post + torch.randn_like(mu_post) * torch.exp(0.5 * logvar_post)
        return {
            "mu_x": mu_x,
            "mu_y": mu_y,
            "logvar_y": logvar_y,
            "mu_prior": mu_y,
            "logvar_prior": logvar_y[..., :d],
            "mu_post": mu_post,
            "logvar_post": logvar_post,
            "z": z,
        }

    def forward(
        self,
        y_st: torch.Tensor,
        y_ph: torch.Tensor,
        x_ph: torch.Tensor,
        y_raw: torch.Tensor | None = None,
        steps: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Full pass. `steps` (optional (S',) long) decodes only those steps (to save memory in
        training); outputs raw_signal_mu / raw_signal_logvar (B, S or S', H), z (B, S, latent),
        the prior / posterior parameters, and `steps`. `y_raw` is accepted for interface
        compatibility; the loss (teb_vae.objective) takes it."""
        c, v = self.cfg.input_channels, self.cfg.validity_channels
        for name, t, want in (("y_st", y_st, c), ("y_ph", y_ph, c), ("x_ph", x_ph, c + v)):
            if t.dim() != 3 or t.shape[1] != want:
                raise ValueError(f"{name} must be (B, {want}, S), got {tuple(t.shape)}")
        out = self.encode(y_st, y_ph, x_ph)
        if steps is None:
            steps = torch.arange(y_st.shape[-1], device=y_st.device)
        out.update(self.decode_z(out["z"][:, steps], y_st, x_ph, steps))
        out["steps"] = steps
        return out

    def decode_z(
        self, z: torch.Tensor, y_st: torch.Tensor, x_ph: torch.Tensor, steps: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Forecasts of `steps` (S',) from latents z (B, S', latent): decoder + level forecast
        + anchor. Given another z (e.g. shuffled across steps) it shows what z carries."""
        base = self.level(y_st, x_ph) + self.anchor(x_ph)
        ctx = self.context(y_st, x_ph)
        return self._decode(z, base[:, steps], None if ctx is None else ctx[:, steps])

    def context(self, y_st: torch.Tensor, x_ph: torch.Tensor) -> torch.Tensor | None:
        """(B, S, (2 + v) * len(level_windows)) trailing means of the level channels, the
        decoder's deterministic context (`model.decoder_context`); None without it."""
        if not self.cfg.decoder_context:
            return None
        return causal_means(self.level_input(y_st, x_ph), self.cfg.level_windows).transpose(1, 2)

    def level_input(self, y_st: torch.Tensor, x_ph: torch.Tensor) -> torch.Tensor:
        """(B, 2 + v, S): the order-0 channels of y_st and x_ph, then the step channels."""
        c = self.cfg.input_channels
        return torch.cat([y_st[:, :1], x_ph[:, :1], x_ph[:, c:]], dim=1)

    def level(self, y_st: torch.Tensor, x_ph: torch.Tensor) -> torch.Tensor:
        """Level forecast (B, S, H) from the order-0 channels of y_st and x_ph and the
        step channels (the last `validity_channels` of x_ph)."""
        return self.level_forecast(self.level_input(y_st, x_ph))

    def _decode(
        self, z: torch.Tensor, level: torch.Tensor, ctx: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Decoder output for z (B, S', latent) [and its context (B, S', D)] plus the anchor
        and level forecast (B, S', H)."""
        dec = self.decoder(z if ctx is None else torch.cat([z, ctx], dim=-1))
        dec["raw_signal_mu"] = dec["raw_signal_mu"] + level
        return dec

    def anchor(self, x_ph: torch.Tensor) -> torch.Tensor:
        """(B, C + 4, S) -> (B, S, 1): the last valid FHR (normalised) at each step, 0 when
        the model has no step channels."""
        if not self.cfg.validity_channels:
            return x_ph.new_zeros(x_ph.shape[0], x_ph.shape[-1], 1)
        return x_ph[:, self.cfg.input_channels + 3, :, None]

    @torch.no_grad()
    def predict_raw_signal(
        self, x_ph: torch.Tensor, y_st: torch.Tensor, y_ph: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Forecasts from every step with the posterior mean: mu / logvar (B, S, H)."""
        was = self.training
        self.eval()
        out = self.forward(y_st, y_ph, x_ph)
        self.train(was)
        return {k: out[k] for k in ("raw_signal_mu", "raw_signal_logvar", "z")}

    @torch.no_grad()
    def predict_single_timestep(
        self,
        x_ph: torch.Tensor,
        y_st: torch.Tensor,
        y_ph: torch.Tensor,
        raw_timestep: int,
        raw_signal_length: int = 4800,
    ) -> dict[str, torch.Tensor | int]:
        """Forecast of the H samples after raw sample `raw_timestep` (the last one observed).

        The step used is i = (raw_timestep + 1) // T - 1 (clamped to >= 0): the latest step
        whose inputs end at or before raw_timestep; its forecast starts at (i+1)*T.
        """
        if not 0 <= raw_timestep < raw_signal_length:
            raise ValueError(f"raw_timestep must be in [0, {raw_signal_length - 1}]")
        t = self.cfg.decimation_factor
        i = max(0, (raw_timestep + 1) // t - 1)
        was = self.training
        self.eval()
        enc = self.encode(y_st[..., : i + 1], y_ph[..., : i + 1], x_ph[..., : i + 1])
        z = enc["z"][:, i : i + 1]
        base = self.level(y_st[..., : i + 1], x_ph[..., : i + 1]) + self.anchor(x_ph[..., : i + 1])
        ctx = self.context(y_st[..., : i + 1], x_ph[..., : i + 1])
        dec = self._decode(z, base[:, i : i + 1], None if ctx is None else ctx[:, i : i + 1])
        self.train(was)
        return {
            "raw_signal_mu": dec["raw_signal_mu"][:, 0],
            "raw_signal_logvar": dec["raw_signal_logvar"][:, 0],
            "decimated_timestep": i,
            "z_single": z,
        }
