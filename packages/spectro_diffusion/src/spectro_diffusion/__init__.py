"""spectro_diffusion: diffusion U-Nets on time-frequency images (emotional speech, ECG)."""

__version__ = "0.1.0"
