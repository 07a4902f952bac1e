"""CLI: python -m fer_compare parameters.json [--set key.path=VALUE ...]."""

from __future__ import annotations

import argparse
import sys

from .config import describe_keys, load_config
from .errors import UserError
from .pipeline import STAGE_ORDER


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fer-compare",
        description=(
            "Facial emotion recognition from small data: the thesis's three approaches "
            "(CNN on grayscale faces, FNN on landmark features, FNN on masked Laplacian images) "
            "rebuilt in low-level TensorFlow 2.\n\nStages, run in this order when switched on: "
            + " -> ".join(STAGE_ORDER)
        ),
        epilog="keys (path = default):\n" + describe_keys(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="parameters.json (omit to use the built-in defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a key; VALUE is parsed as JSON, else taken as a string")
    p.add_argument("--verbose", action="store_true",
                   help="print every epoch's row (also written to epochs.csv beside each model's TensorBoard logs)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .progress import configure

    configure(verbose=args.verbose)
    try:
        config = load_config(args.config, args.overrides)
        if any(config[stage] for stage in ("train", "test", "video")):
            from .tf_import import import_tensorflow

            import_tensorflow()
        from .pipeline import run_pipeline

        run_pipeline(config)
    except UserError as e:
        print(f"fer-compare: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("fer-compare: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
