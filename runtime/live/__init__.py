"""The `abcgen-live` daemon: the session (composer and player), the performance
that turns events into timed MIDI, playback (the clock, every timing, the
scheduler), and the MIDI ports."""
