"""The `aiclient` command line: click commands, one module per group; nothing imports it."""
