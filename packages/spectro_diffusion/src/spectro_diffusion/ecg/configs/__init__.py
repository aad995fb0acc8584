"""YAML configs of the ECG variant: default, low_memory, demo, real (the shared PhysioNet records)."""
