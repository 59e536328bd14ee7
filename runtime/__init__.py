"""Torch-free core of abcgen: ABC text, parsing, writers, the ONNX step generator.

Nothing under this package may import torch, directly or through a dependency:
generation must run with onnxruntime and numpy alone.
"""
