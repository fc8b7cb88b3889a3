"""Wire protocol between the wearable's firmware and the gateway (see issue 5; not built yet).

Depends on numpy only; ``edge`` imports it, never the other way round.
"""
