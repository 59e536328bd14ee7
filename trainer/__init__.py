"""Training side of abcgen: corpus, vocabulary, the LSTM in torch, the loop, export.

Imports the runtime (normaliser, split rule); the runtime never imports this.
"""
