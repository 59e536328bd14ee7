"""ABC text to events: the lexer, the incremental parser, the tune text normaliser,
header fields, time (meter.py) and pitch (keys.py), the event model, repeats and bar
arithmetic, what a form is, chord symbols, the ABC writer and the corpus splits.
Imports nothing else of the runtime but `errors` and `atomic`: every other part
reads music through here."""
