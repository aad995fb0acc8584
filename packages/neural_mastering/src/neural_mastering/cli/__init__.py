"""Console scripts: argparse and printing only; each `main` calls the library and reports."""
