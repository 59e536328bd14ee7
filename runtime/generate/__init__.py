"""Tunes from an exported model: the ONNX session and its contract checks, the
step generator, sampling and priming. Reads `abc` and `constrain` (the mask);
the only part of abcgen that imports onnxruntime."""

# Seeds are 0..MAX_SEED in every command and request (numpy takes no negative seed,
# and torch none past 2**64); here, not in sampling.py, so options can name it cheaply.
MAX_SEED = 2**32 - 1
