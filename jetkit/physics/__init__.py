"""Jet physics in JAX on padded constituent arrays: kinematics, clustering, substructure,
jet images and cut-based taggers.

>>> from jetkit import physics
>>> physics.tau32(particles, mask)                 # N-subjettiness ratio (kT axes)
>>> physics.hls4ml_features(particles, mask)       # the 16 hls4ml features
>>> physics.jet_image(particles, mask, npix=32)    # preprocessed jet images

Inputs: ``particles`` (..., P, 3) = (pT [GeV], d_eta, d_phi [rad]) relative to the jet axis,
zero-padded, and ``mask`` (..., P) bool (``None``: pT > 0). Bad input raises a ``ValueError``.

Modules: :mod:`~jetkit.physics.kinematics` (four-vectors, boosts, masses),
:mod:`~jetkit.physics.clustering` (kT / C/A / WTA sequential clustering, exclusive axes),
:mod:`~jetkit.physics.subjettiness` (tau_N), :mod:`~jetkit.physics.energy_correlators` (e2, e3, C2, D2,
M2, N2), :mod:`~jetkit.physics.grooming` (soft drop / mMDT), :mod:`~jetkit.physics.hlf` (the 16
hls4ml features), :mod:`~jetkit.physics.preprocessing` and :mod:`~jetkit.physics.images` (jet
images), :mod:`~jetkit.physics.taggers` (cut-based taggers, simple jet observables),
:mod:`~jetkit.physics.augmentations` (JetCLR augmentations for self-supervision; a submodule
only, as its ``rotate`` differs from the preprocessing one). All
substructure is checked against fjcontrib.
"""

from jetkit.physics import (augmentations, clustering, energy_correlators, grooming, hlf, images, kinematics,
                            preprocessing, subjettiness, taggers)
from jetkit.physics.clustering import *  # noqa: F401,F403
from jetkit.physics.energy_correlators import *  # noqa: F401,F403
from jetkit.physics.grooming import *  # noqa: F401,F403
from jetkit.physics.hlf import *  # noqa: F401,F403
from jetkit.physics.images import *  # noqa: F401,F403
from jetkit.physics.kinematics import *  # noqa: F401,F403
from jetkit.physics.preprocessing import *  # noqa: F401,F403
from jetkit.physics.subjettiness import *  # noqa: F401,F403
from jetkit.physics.taggers import *  # noqa: F401,F403

__all__ = [
    "augmentations", "clustering", "energy_correlators", "grooming", "hlf", "images", "kinematics", "preprocessing", "subjettiness",
    "taggers",
    *clustering.__all__, *energy_correlators.__all__, *grooming.__all__, *hlf.__all__, *images.__all__,
    *kinematics.__all__, *preprocessing.__all__, *subjettiness.__all__, *taggers.__all__,
]
