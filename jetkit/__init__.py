"""jetkit: a teaching kit for machine learning on real jets."""

__version__ = "0.1.0"
