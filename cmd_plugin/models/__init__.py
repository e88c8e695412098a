from . import algorithms, heads, necks, utils  # noqa: F401
