from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class MessagingConfig(AppConfig):
    name = "kernel.messaging"
    # The label the tables and migrations have always had.
    label = "kernel"
    verbose_name = "Messaging"

    def ready(self) -> None:
        # Every app declares the events it consumes in its handlers module; importing them
        # fills the registry the workers deliver from.
        autodiscover_modules("handlers")
