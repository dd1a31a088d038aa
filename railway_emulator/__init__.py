"""A local emulator of Railway's public GraphQL API (like moto for AWS).

Layout: `models/` holds the state and the behaviour: one mixin per Railway area (store and access checks,
projects and environments, services, variables, volumes, domains, deployments and metrics, templates,
notification rules, environment config, the account, features not modelled) composed into one thread-safe
`Backend`, moto-style; `resolvers` binds
every root field to the backend operation named after it; `errors` carries Railway's own messages, `faults`
injects latency/5xx/429/drops, `execution` parses, validates and runs GraphQL requests, `admin` holds the admin
endpoint's routes and counters, and `server` is the HTTP front (GraphQL endpoint, admin endpoint, service domains
answering by Host header).
"""
from railway_emulator.server import EmulatorServer

__all__ = ["EmulatorServer"]
