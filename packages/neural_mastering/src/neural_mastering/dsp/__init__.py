"""Batched, differentiable DSP over (batch, channels, samples) tensors."""
