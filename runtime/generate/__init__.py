"""Tunes from an exported model: the ONNX session and its contract checks, the
step generator, sampling, the constraint automaton and priming. Reads `abc`;
the only part of abcgen that imports onnxruntime."""
