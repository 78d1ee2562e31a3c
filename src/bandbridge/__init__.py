"""bandbridge: translate imagery across sensors with conditional GANs."""

__version__ = "0.1.0"
