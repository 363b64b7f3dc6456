"""The contracts between the domains: the list of domains, every event with its publishers and
consumers (``catalog``), and the documents made from them (the catalog table, AsyncAPI). The
domains and the gateway depend on this package; the kernel does not."""
