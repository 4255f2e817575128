"""Built-in models; importing this package registers them."""

from . import chain, cqd, kerr_fridge, kerr_negf, qubit_fridge, sqd  # noqa: F401
