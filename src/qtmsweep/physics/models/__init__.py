"""Built-in models; importing this package registers them."""

from . import cqd, sqd  # noqa: F401
