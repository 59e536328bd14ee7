"""Events to files: MIDI, MusicXML, and `convert`, which routes a tunebook to them.
Reads `abc`; knows nothing of models or ports."""
