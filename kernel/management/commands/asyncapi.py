from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from kernel import asyncapi


class Command(BaseCommand):
    help = "Write the AsyncAPI document of the events into docs/asyncapi.yaml (or print it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--print", action="store_true", help="print the document instead")
        parser.add_argument("--path", default=str(settings.BASE_DIR / "docs" / "asyncapi.yaml"))

    def handle(self, *args, **options) -> None:
        if options["print"]:
            self.stdout.write(asyncapi.render(), ending="")
            return
        changed = asyncapi.write(Path(options["path"]))
        self.stdout.write(f"{options['path']}: {'updated' if changed else 'up to date'}")
