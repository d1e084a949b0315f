"""graphkit: which targets does this change affect, and make CI do exactly that work once."""

__version__ = "0.1.0"
