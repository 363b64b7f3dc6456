"""What every domain uses and no domain is named in.

- ``kernel.messaging``: events on the broker — the envelope, publishing through the outbox,
  consuming through the inbox, delivery with retries and dead letters, the relay and its sweep.
- ``kernel.web``: the HTTP platform — API fields and serializers, the one error shape,
  middleware, the OpenAPI schema, the database backend, password hashing, throttles.
- ``kernel.money``: money as ``Decimal`` with two places, for both.

The events themselves, and the list of domains, are the contracts package's (``contracts``).
"""
