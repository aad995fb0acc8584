"""The console scripts of teb_vae: argparse and printing only, one module per script."""
