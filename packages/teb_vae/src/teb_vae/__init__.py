"""teb_vae: the TEB sequential VAE forecasting fetal heart rate from raw CTG."""

from teb_vae.model import SeqVaeTeb

__all__ = ["SeqVaeTeb"]
