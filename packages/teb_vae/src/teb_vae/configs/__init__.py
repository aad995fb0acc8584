"""Shipped YAML configs: `demo` (the no-argument run) and `default` (the document's dims)."""
