from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = "Event contracts"

    def ready(self) -> None:
        # Every event type is declared before any handler or publisher names one.
        import contracts.catalog  # noqa: F401
