"""The engine's streamed output: a refusal of ours raised in a dynamic provider is one line, a crash keeps its
traceback (infra.ops.engine_stream)."""
from __future__ import annotations

from infra.ops.engine_stream import EngineStream

PROGRESS = " +  pulumi-python:dynamic:Resource pr-7-environment creating (0s) error: Traceback (most recent call last):"
REFUSAL = ("infra.ownership.NotOwnedError: railway environment 'pr-7' (e996) already exists and belongs to nobody "
           "known to acs-infra; nothing was changed.")


def diagnostic(final: list[str]) -> list[str]:
    """A provider's diagnostic as the engine streams it: a chained traceback (Railway's answer, then ours)."""
    return ["Diagnostics:", "  pulumi-python:dynamic:Resource (pr-7-environment):",
            "    error: Traceback (most recent call last):",
            '      File "/work/infra/railway/client.py", line 249, in _send',
            "        raise from_message(message, operation)",
            "    infra.railway.errors.ValidationError: EnvironmentFork: Environment with name pr-7 already exists", "",
            "    During handling of the above exception, another exception occurred:", "",
            "    Traceback (most recent call last):",
            '      File "/venv/site-packages/pulumi/dynamic/__main__.py", line 84, in wrapper',
            "        return fn(self, request, context)",
            "               ^^^^^^^^^^^^^^^^^^^^^^^^^^",
            '      File "/work/infra/providers/environment.py", line 102, in check_owned',
            *final, "", "  pulumi:pulumi:Stack (acs-pr-7):", "    error: update failed", "", "Resources:"]


def stream(lines: list[str]) -> list[str]:
    written: list[str] = []
    out = EngineStream(written.append)
    for line in lines:
        out(line + "\n")
    out.flush()
    return "".join(written).splitlines()


def test_a_refusal_of_ours_is_one_line() -> None:
    shown = stream([PROGRESS, *diagnostic([f"    {REFUSAL}"])])
    assert "Traceback" not in "\n".join(shown) and "__main__.py" not in "\n".join(shown), shown
    assert shown == [PROGRESS.replace("Traceback (most recent call last):", "(see the diagnostics below)"),
                     "Diagnostics:", "  pulumi-python:dynamic:Resource (pr-7-environment):", f"    error: {REFUSAL}",
                     "", "  pulumi:pulumi:Stack (acs-pr-7):", "    error: update failed", "", "Resources:"]


def test_a_message_of_several_lines_keeps_them() -> None:
    shown = stream(diagnostic(["    infra.config.models.ConfigError: invalid stack configuration:",
                               "      acs:environment.name: bad"]))
    assert "    error: infra.config.models.ConfigError: invalid stack configuration:" in shown
    assert "      acs:environment.name: bad" in shown and "Traceback" not in "\n".join(shown), shown


def test_a_crash_keeps_its_traceback() -> None:
    """Our error in the chain, but the final exception is a crash (a KeyError): shown whole."""
    lines = diagnostic(["    KeyError: 'environmentId'"])
    assert stream(lines) == lines


def test_a_traceback_cut_short_by_the_end_of_the_stream_is_written() -> None:
    lines = diagnostic(["    KeyError: 'environmentId'"])[:5]  # no exception line yet
    assert stream(lines) == lines
