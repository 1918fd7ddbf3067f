"""automix: deep-learning automatic music mixing (FxNorm-Automix, ISMIR 2022) rebuilt from scratch."""

__version__ = "0.1.0"
