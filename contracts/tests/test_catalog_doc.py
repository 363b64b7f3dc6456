from django.conf import settings

from contracts import catalog_doc


def test_the_architecture_document_shows_the_catalog_of_the_code():
    document = (settings.BASE_DIR / "docs" / "architecture.md").read_text()
    assert catalog_doc.section(document) == catalog_doc.render(), (
        "docs/architecture.md is out of date: run `python manage.py event_catalog`"
    )


def test_every_consumer_in_the_table_names_its_handler():
    assert "no handler!" not in catalog_doc.render()
