"""``python -m automix.demo --out DIR``: generate the demo dataset (options: ``--help``)."""
from automix.demo.data import main

if __name__ == "__main__":
    raise SystemExit(main())
