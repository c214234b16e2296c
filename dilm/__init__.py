"""dilm: distil a text-classification dataset into a few readable synthetic texts per class."""

__version__ = "0.1.0"
