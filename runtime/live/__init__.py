"""The `abcgen-live` daemon: the session (composer and player), the performance
that turns events into timed MIDI, the scheduler, and the MIDI ports."""
