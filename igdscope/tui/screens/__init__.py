"""One module per screen (and per modal dialog)."""
