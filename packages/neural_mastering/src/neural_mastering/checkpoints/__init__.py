"""The default checkpoint shipped with the package (default.pt); see the package README."""
