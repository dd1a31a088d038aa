"""A local emulator of Railway's public GraphQL API (like moto for AWS).

Layout: `models` holds the state and the behaviour (one backend, thread-safe), `resolvers` maps GraphQL fields
onto it thinly, `errors` carries Railway's own messages, `faults` injects latency/5xx/429/drops, and
`server` is the HTTP front (GraphQL endpoint, admin endpoint, service domains answering by Host header).
"""
from railway_emulator.server import EmulatorServer

__all__ = ["EmulatorServer"]
