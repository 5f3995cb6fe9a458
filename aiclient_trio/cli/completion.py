"""Shell completion.

`aiclient completion bash|zsh|fish`: click's scripts plus dynamic provider and model names.
Model ids come from the running daemon (short timeout); without one, completion offers none.

The scripts are click's own (`_AICLIENT_COMPLETE=<shell>_source aiclient` prints the same);
they call back into `aiclient` on every TAB, so commands and options are always current.
`complete_providers` and `complete_models` are `shell_complete=` callbacks for parameters
that take a provider name or a model id.
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem, get_completion_class

from aiclient_trio.config import paths
from aiclient_trio.daemon.control import ControlClient
from aiclient_trio.providers.registry import PROVIDER_NAMES

__all__ = [
    "COMPLETE_VAR",
    "SHELLS",
    "complete_models",
    "complete_providers",
    "completion",
    "completion_script",
    "daemon_model_names",
]

PROG = "aiclient"
COMPLETE_VAR = "_AICLIENT_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
# TAB must stay snappy: a daemon that does not answer quickly gets no say.
DAEMON_TIMEOUT = 1.0


def _daemon_call(method: str) -> Any:

    try:
        return ControlClient(paths.control_socket(), timeout=DAEMON_TIMEOUT).call(method)
    except Exception:  # no daemon, a slow one, or garbage: complete nothing rather than fail
        return None


def daemon_model_names() -> list[str]:
    """Model ids (`provider/model`) and alias names the running daemon serves; [] without one."""
    result = _daemon_call("models")
    if not isinstance(result, dict):
        return []
    names = {
        str(m["id"]) for m in result.get("models") or [] if isinstance(m, dict) and m.get("id")
    }
    names.update(str(a) for a in result.get("aliases") or {})
    return sorted(names)


def _provider_names() -> list[str]:

    names = set(PROVIDER_NAMES)
    status = _daemon_call("status")
    if isinstance(status, dict) and isinstance(status.get("providers"), dict):
        names.update(str(n) for n in status["providers"])
    return sorted(names)


def complete_providers(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(n) for n in _provider_names() if n.startswith(incomplete)]


def complete_models(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return [CompletionItem(n) for n in daemon_model_names() if n.startswith(incomplete)]


def completion_script(command: click.Command, shell: str) -> str:
    """The completion script for `shell` ("bash", "zsh" or "fish")."""
    cls = get_completion_class(shell)
    if cls is None:
        raise click.ClickException(f"no completion for {shell!r}; use one of {', '.join(SHELLS)}")
    return cls(command, {}, PROG, COMPLETE_VAR).source()


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish).

    Completes commands, options, provider names and, while the daemon runs, model ids
    and aliases.

    \b
    Examples:
      eval "$(aiclient completion bash)"     # try it in this shell
      echo 'eval "$(aiclient completion bash)"' >> ~/.bashrc
      echo 'eval "$(aiclient completion zsh)"' >> ~/.zshrc
      aiclient completion fish > ~/.config/fish/completions/aiclient.fish
    """
    click.echo(completion_script(ctx.find_root().command, shell), nl=False)
