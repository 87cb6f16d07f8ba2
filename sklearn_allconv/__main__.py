"""``python -m sklearn_allconv <command>``: the command line of :mod:`.cli`."""
from sklearn_allconv.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
