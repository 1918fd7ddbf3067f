"""Deprecated alias of :mod:`automix.demo.data`: ``python -m automix.demo_data`` runs ``python -m automix.demo``."""
from automix.demo.data import generate_demo_dataset, main  # noqa: F401  (old imports keep working)

if __name__ == "__main__":
    import warnings

    warnings.warn("python -m automix.demo_data is deprecated; use python -m automix.demo", DeprecationWarning)
    raise SystemExit(main())
