"""The messaging kernel: events published through an outbox, consumed through an inbox."""
