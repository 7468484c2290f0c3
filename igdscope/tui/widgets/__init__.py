"""Widgets of the TUI: the Line-API hex view and GGTT list, the occupancy picture, the diff view."""
