"""The CI operations: every `acs-infra` verb, run over the Pulumi program in `infra/` through the Automation
API. This package imports `infra`; nothing outside it imports this package."""
