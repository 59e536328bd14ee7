"""Plugins for other programs (MuseScore: `musescore/`), shipped as package data
so `abcgen plugin install` can copy them from an installed abcgen."""
