"""The Python side of the MuseScore plugin: its requests, reading and writing the
score's notes, and installing the QML files."""
