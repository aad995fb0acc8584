"""YAML configs of the ECG variant: default, low_memory, demo, real (PhysioNet records)."""
