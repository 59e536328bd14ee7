"""What a tune may do next: the constraint automaton that keeps generated tunes
valid (bars, repeats, endings, the end) and in the form asked for, applied to a
batch as the generator's step mask. Reads `abc`; knows nothing of models."""
