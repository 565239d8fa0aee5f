"""``python -m collop``: the command line (:func:`collop.cli.main`)."""
import sys

try:
    from .cli import main
except KeyboardInterrupt:          # Ctrl-C before the command line has started: no traceback
    print("collop: interrupted", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
