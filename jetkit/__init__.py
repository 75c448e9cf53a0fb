"""jetkit: a teaching kit for machine learning on real jets."""

__version__ = "0.1.0"

from jetkit import parallel as _parallel  # noqa: E402

# One XLA CPU device per available core, before JAX starts its backend: the substructure
# functions split their jets over them (jetkit.parallel.over_jets). JETKIT_CPU_DEVICES=1 opts out.
_parallel.cpu_devices()
