"""Shipped record splits (YAML): `ctu_uhb_35.yaml` for the 35 CTU-UHB records."""
