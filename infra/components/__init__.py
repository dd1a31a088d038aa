from infra.components.acs_environment import AcsEnvironment

__all__ = ["AcsEnvironment"]
