"""`python -m aiclient_trio` runs the `aiclient` command line."""

from aiclient_trio.cli.main import main

if __name__ == "__main__":
    main(prog_name="aiclient")
