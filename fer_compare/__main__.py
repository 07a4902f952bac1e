"""CLI: python -m fer_compare parameters.json [--set key.path=VALUE ...]."""

from __future__ import annotations

import argparse
import signal
import sys

from .errors import UserError
from .pipeline import STAGE_ORDER, needs_tensorflow
from .settings import describe_keys, load_config


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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it is handled as Ctrl-C is (a checkpoint saved)."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    terminated = False
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(args)
    except Terminated:
        terminated = True
        print("fer-compare: error: terminated (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous if not terminated else signal.SIG_DFL)


def _main(args: argparse.Namespace) -> int:
    from .files import WriteError
    from .progress import configure

    configure(verbose=args.verbose)

    try:
        config = load_config(args.config, args.overrides)
        if needs_tensorflow(config):
            from .tf_import import import_tensorflow

            import_tensorflow()
        from .pipeline import run_pipeline

        run_pipeline(config)
    except (UserError, WriteError) as e:
        if e.exit_code == 130 and isinstance(e.__context__, Terminated):  # SIGTERM during training
            print(f"fer-compare: error: terminated (SIGTERM): {str(e).removeprefix('interrupted: ')}", file=sys.stderr)
            return 143
        print(f"fer-compare: error: {e}", file=sys.stderr)
        return e.exit_code
    except Terminated:
        print("fer-compare: error: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("fer-compare: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        from .files import DISK_ERRORS

        if e.errno not in DISK_ERRORS:
            raise
        # A writer that does not yet go through files.py: still one line, naming the file.
        print(f"fer-compare: error: cannot write {e.filename or 'a file'} ({e.strerror})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
