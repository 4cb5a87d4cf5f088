"""The `acotd` command: every pipeline stage headless, and the TUI when run bare.

Commands import their heavy dependencies (litellm, torch, datasets) inside the function, so
`acotd --help` and the TUI start fast.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

import click

from acotd_tui.errors import AcotdError
from acotd_tui.store import StoreError

from .common import project_option, store_problem
from .config_cmds import config_group
from .dataset_cmds import cots_group, export_cmd, sample_group, teach_cmd, verify_cmd
from .jobs_cmds import jobs_group
from .model_cmds import eval_cmd, experiment_cmd, results_cmd, train_cmd
from .problem_cmds import problems_group
from .project_cmds import attempts_group, demo_cmd, import_cmd, init_cmd, status_cmd
from .review_cmds import review_group
from .stage_cmds import diagnose_cmd, grade_cmd

# litellm fetches a price map from the internet at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class AcotdGroup(click.Group):
    """Turns user-facing errors into one line on stderr and a non-zero exit."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Click's own usage errors (a negative `--limit`, a missing argument) print three
        lines: usage, a hint and the error. Here they print one, like every other error."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from_command_line = args is None  # not CliRunner
        try:
            self._main_one_line(args, prog_name, complete_var, **extra)
        finally:
            if from_command_line:
                # The interpreter's last garbage collection walks every object torch and
                # transformers made: seconds on a busy machine after a job has stopped
                # (SIGTERM answered in 1.7 s, the process gone at 7 s). It ends: skip it.
                gc.freeze()
        return None

    def _main_one_line(
        self,
        args: Sequence[str] | None,
        prog_name: str | None,
        complete_var: str | None,
        **extra: Any,
    ) -> None:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx is not None else "acotd"
            click.echo(f"error: {exc.format_message()} (see `{command} -h`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (AcotdError, StoreError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as exc:
            click.echo(f"error: {store_problem(ctx, exc)}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Pipeline order, not alphabetical: the help reads as the method.
        order = list(self.commands)
        return order


@click.group(
    cls=AcotdGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@project_option
@click.version_option(package_name="acotd-tui")
@click.pass_context
def main(ctx: click.Context, project_dir: str | None) -> None:
    """acotd-tui: curated chain-of-thought distillation with a human in the loop.

    Run without a command to open the app on the project. Every stage below also runs
    headless, with the same code the app uses.
    """
    if ctx.invoked_subcommand is None:
        from acotd_tui.app import run_app
        from acotd_tui.project import Project

        project = Project.open(project_dir)
        project.store  # noqa: B018 - a damaged store fails here, in one line, not in the app
        root = project.root
        project.close()
        run_app(root)


# In pipeline order: the help reads as the method.
COMMANDS = [
    init_cmd,
    config_group,
    import_cmd,
    problems_group,
    attempts_group,
    diagnose_cmd,
    grade_cmd,
    review_group,
    sample_group,
    teach_cmd,
    verify_cmd,
    cots_group,
    export_cmd,
    train_cmd,
    eval_cmd,
    experiment_cmd,
    results_cmd,
    jobs_group,
    status_cmd,
    demo_cmd,
]
for command in COMMANDS:
    main.add_command(command)


def run() -> None:
    main(prog_name="acotd")


if __name__ == "__main__":
    run()
