from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from contracts import catalog_doc


class Command(BaseCommand):
    help = "Write the event catalog table into docs/architecture.md (or print it with --print)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--print", action="store_true", help="print the table instead")
        parser.add_argument("--path", default=str(settings.BASE_DIR / "docs" / "architecture.md"))

    def handle(self, *args, **options) -> None:
        if options["print"]:
            self.stdout.write(catalog_doc.render())
            return
        changed = catalog_doc.write(Path(options["path"]))
        self.stdout.write(f"{options['path']}: {'updated' if changed else 'up to date'}")
