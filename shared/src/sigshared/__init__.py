"""sigshared: the thin library shared by the workspace's signal-model packages."""

__version__ = "0.1.0"
