from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class KernelConfig(AppConfig):
    name = "kernel"
    verbose_name = "Messaging"

    def ready(self) -> None:
        # Every app declares the events it consumes in its handlers module; importing them
        # fills the registry the workers deliver from.
        import kernel.catalog  # noqa: F401 - declares every event type before handlers name them

        autodiscover_modules("handlers")
