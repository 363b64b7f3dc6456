"""The HTTP platform every domain's API is built on."""
