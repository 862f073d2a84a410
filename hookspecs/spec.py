"""The hookspecs: the contract between Pilot (the host) and its plugins.

Order of calls for one execution::

    on_phase_start(phase 0)            # the execution has started; the row of a recorder can be written now
    on_stream_event  ...               # one call per decoded stream-json line, in order
    on_phase_end(phase k)              # at each phase transition: the old phase ends ...
    on_phase_start(phase k+1)          # ... and the new one starts, at the same instant
    on_stream_event  ...
    on_phase_end(last phase)           # always, also after a timeout, a crash of the agent or Ctrl-C
    on_execution_complete(result)      # always exactly once, last

Every execution hook is a notification: return values are ignored. The host calls the implementations one
at a time in pluggy's order (``tryfirst``/``trylast``, then last registered first); an exception raised by one
plugin is reported once on stderr with the plugin's name and the hook, the other plugins still get the call,
and the execution goes on (``PILOT_STRICT_PLUGINS=1`` re-raises instead). Hooks run synchronously in the
host's read loop: do no I/O per event, buffer and write at phase or execution end.

Declare hook parameters by these exact names, without defaults, and take only those you need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hookspecs.markers import hookspec

if TYPE_CHECKING:
    from hookspecs.commands import CommandRegistry
    from hookspecs.manager import PluginHost
    from hookspecs.payloads import Execution, ExecutionResult, Phase, StreamEvent


@hookspec
def on_phase_start(execution: Execution, phase: Phase) -> None:
    """A phase of the execution has started.

    Called first of all the execution hooks, for phase 0, when the execution starts (before the agent's
    first line is read); then at each phase transition, right after ``on_phase_end`` of the phase before,
    with the same instant as its ``started_at``. A phase entered twice gets two calls (its ``index`` differs).

    :param execution: the execution's identity and context; the same object for every hook of the execution.
    :param phase: the phase that starts; ``ended_at`` and ``duration_ms`` are ``None``.
    :return: ignored.
    """


@hookspec
def on_phase_end(execution: Execution, phase: Phase) -> None:
    """A phase of the execution has ended.

    Called at each phase transition, before ``on_phase_start`` of the next phase and before the
    ``on_stream_event`` of the line that caused the transition; and once for the last phase, after the last
    ``on_stream_event`` and before ``on_execution_complete``, however the execution ended.

    :param execution: the execution's identity and context.
    :param phase: the phase that ended, with ``ended_at`` and ``duration_ms`` set.
    :return: ignored.
    """


@hookspec
def on_stream_event(execution: Execution, event: StreamEvent) -> None:
    """One line of the agent's stream-json output has been decoded.

    Called once per JSON object line, in the order the agent wrote them, between the first
    ``on_phase_start`` and the last ``on_phase_end``. Lines that are blank, not JSON, not an object, not
    UTF-8 or longer than 16 MiB are skipped and counted in ``ExecutionResult.malformed_lines``. This is the
    hot path: keep the implementation to a few dictionary lookups.

    :param execution: the execution's identity and context.
    :param event: the decoded line: ``raw`` dict, ``type``, ``line_number``, ``received_at``, ``text``.
    :return: ignored.
    """


@hookspec
def on_execution_complete(execution: Execution, result: ExecutionResult) -> None:
    """The execution has ended, whichever way: called exactly once, after everything else.

    Also called after a timeout (``timed_out``), Ctrl-C or SIGTERM (``cancelled``), an agent that exits
    without a ``result`` event or cannot be started (``failed``).

    :param execution: the execution's identity and context.
    :param result: status, exit code, error text, end time, duration, diff statistics, the last ``result``
        event, malformed line count, stderr tail and the plugin failures seen so far.
    :return: ignored.
    """


@hookspec
def register_commands(commands: CommandRegistry) -> None:
    """Add subcommands to the ``pilot`` command line.

    Called once per ``pilot`` invocation, before the arguments are parsed. ``commands.add(name, help=...)``
    returns an ``argparse.ArgumentParser`` for ``pilot NAME``; give it arguments, sub-parsers, and a handler
    with ``parser.set_defaults(handler=fn)``, where ``fn(args) -> int | None`` returns the exit code.

    A plugin that raises here loses its own commands only; a name already taken by another plugin is
    reported and skipped.

    :param commands: the registry of ``pilot`` subcommands.
    :return: ignored.
    """


@hookspec
def on_host_ready(host: PluginHost) -> None:
    """Every plugin is loaded: the host hands itself to the plugins.

    Called once per ``pilot`` invocation, after all plugins are loaded and before any command runs (and for
    a plugin registered later, when it is registered). A plugin that added hooks of its own (see
    ``pilot_hookspecs`` in the plugin guide) keeps ``host`` to call them, one implementation at a time with
    failures contained: ``host.dispatcher.call("on_execution_recorded", record=record)``.

    :param host: the plugin host: its ``pm`` (the pluggy manager), ``dispatcher`` and ``plugins()``.
    :return: ignored.
    """
