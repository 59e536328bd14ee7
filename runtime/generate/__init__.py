"""Tunes from an exported model: the ONNX session and its contract checks, the
step generator, sampling and priming. Reads `abc` and `constrain` (the mask);
the only part of abcgen that imports onnxruntime."""
