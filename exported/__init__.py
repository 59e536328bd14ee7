"""The shipped default model, installed as package data so `abcgen generate`
works right after `pip install`."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).with_name("abcgen-default.onnx")
