"""The console scripts of the emotion application: argparse and printing only."""
