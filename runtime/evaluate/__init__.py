"""Judging a model: bits/char, tune statistics against the corpus, plots, and
abc2midi as the reference parser and bar checker."""
