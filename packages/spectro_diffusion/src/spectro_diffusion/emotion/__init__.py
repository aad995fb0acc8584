"""Emotion variant: emotion-conditional diffusion on log-mel spectrograms of emotional speech
(EmoDB / RAVDESS or the built-in synthetic corpus), back to audio with Griffin-Lim."""
