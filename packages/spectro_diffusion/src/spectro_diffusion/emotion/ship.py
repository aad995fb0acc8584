"""Write a `spectro-train` checkpoint as a shippable model file (inference part only):

    uv run python -m spectro_diffusion.emotion.ship RUN/checkpoints/last.pt OUT.pt \\
        --description "EmoDB (...)"

How the package's own emodb.pt was made is in checkpoints/emodb.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sigshared.cli import cli_entry, require_file
from sigshared.errors import UserError
from spectro_diffusion.emotion.checkpoint import export_generator, load_trained


@cli_entry
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spectro_diffusion.emotion.ship")
    parser.add_argument("checkpoint", help="a spectro-train checkpoint")
    parser.add_argument("out", help="the model file to write")
    parser.add_argument(
        "--description", required=True, help="the data it was trained on, in words, with licence"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise UserError(f"{out} exists; pass --overwrite to replace it")
    export_generator(require_file(args.checkpoint, "checkpoint"), out, args.description)
    gen = load_trained(out)  # the written file must load as a model
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {gen.weights} weights)")


if __name__ == "__main__":
    main()
