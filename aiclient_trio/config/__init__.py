"""Configuration: typed snapshot, load/merge/validate, file edits, XDG paths."""
