"""Effect normalization (FxNorm): push stems towards dataset-average effect characteristics (spec §1).

numpy/scipy/numba only: this package never imports torch. Modules, one effect each:
:mod:`~automix.fxnorm.loudness`, :mod:`~automix.fxnorm.eq`, :mod:`~automix.fxnorm.dynamics` (with
:mod:`~automix.fxnorm.onsets`, :mod:`~automix.fxnorm.compressor`), :mod:`~automix.fxnorm.panning`,
:mod:`~automix.fxnorm.reverb`; :mod:`~automix.fxnorm.stft` (numpy STFT), :mod:`~automix.fxnorm.convolution`
(blocked FFT filtering), :mod:`~automix.fxnorm.kernels` (numba loudness meter and biquads);
:mod:`~automix.fxnorm.features` (averaging, safe file format, legacy import); :mod:`~automix.fxnorm.normalize` (one
stem); :mod:`~automix.fxnorm.pipeline` (a dataset) with :mod:`~automix.fxnorm.workers` (the process pool).
"""

from automix.fxnorm.features import import_legacy_features, load_features, save_features
from automix.fxnorm.normalize import EFFECTS, MODES, normalize_stem, stem_rng
from automix.fxnorm.pipeline import compute_features, make_executor, normalize_dataset
from automix.fxnorm.reverb import find_impulse_responses

__all__ = ["EFFECTS", "MODES", "compute_features", "find_impulse_responses", "import_legacy_features",
           "load_features", "make_executor", "normalize_dataset", "normalize_stem", "save_features", "stem_rng"]
