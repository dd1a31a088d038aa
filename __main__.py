"""The ACS Pulumi program: one Railway environment per stack (dev, prod, pr-<N>)."""
import pulumi

from infra.program import run

try:
    outputs = run(pulumi.get_stack(), pulumi.Config("acs"))
except ValueError as exc:  # ConfigError: shown as a plain error, before any resource exists
    raise pulumi.RunError(str(exc)) from None
for key, value in outputs.items():
    pulumi.export(key, value)
