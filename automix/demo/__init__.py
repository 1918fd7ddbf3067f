"""The demo multitrack dataset: Bach chorales rendered as dry and MUSDB18-like wet stems.

``python -m automix.demo --out DIR`` (or ``automix demo-data --out DIR``) generates it; the modules:

* :mod:`automix.demo.data`      the generator and its command line (:func:`generate_demo_dataset`)
* :mod:`automix.demo.render`    score to audio: music21's chorales through a General-MIDI soundfont
* :mod:`automix.demo.engineer`  the seeded "mix engineer" (pedalboard) making wet stems and the mixture
* :mod:`automix.demo.irs`       impulse responses: a user folder, or rooms simulated with pyroomacoustics
"""

__all__ = ["generate_demo_dataset"]


def __getattr__(name):
    # imported on first use, so that ``python -m automix.demo.data`` and importing one submodule (render, irs)
    # do not load the whole generator first
    if name == "generate_demo_dataset":
        from automix.demo.data import generate_demo_dataset

        return generate_demo_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
