"""`abcgen serve`: the tune workshop in the browser (the app, its composer pool,
the archive, and the page it serves)."""
