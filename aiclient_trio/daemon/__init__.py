"""The running daemon: its nursery tree, control socket and provider supervision."""
