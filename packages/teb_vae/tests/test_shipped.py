"""The model shipped in the package: present, small, stamped, complete, attributed."""

from __future__ import annotations

from teb_vae.checkpoint import load_trained, shipped_model_path
from teb_vae.state import STATE_NAMES


def test_shipped_model_loads_without_a_checkpoint_argument():
    path = shipped_model_path()
    assert path.is_file() and path.stat().st_size < 20 * 2**20
    trained = load_trained()  # no path: the shipped model
    assert trained.path == path and not trained.model.training
    assert trained.baseline_spread and trained.spread is not None
    assert trained.spread.state_names == STATE_NAMES and trained.spread.coef.shape[0] == 8
    assert trained.anchor is not None and len(trained.anchor.weight) == 8
    assert trained.cfg.model.validity_channels == 4
    notice = (path.parent / "README.md").read_text()
    assert "ODC-By 1.0" in notice and "CTU-UHB" in notice and "PhysioNet" in notice
