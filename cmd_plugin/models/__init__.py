from . import algorithms, heads, necks  # noqa: F401
