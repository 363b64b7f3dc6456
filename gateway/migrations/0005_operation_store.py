from django.db import migrations, models


def keep_kept_answers(apps, schema_editor):
    """The final answers kept on keyed order requests become those requests' operations."""
    OrderRequest = apps.get_model("gateway", "OrderRequest")
    Operation = apps.get_model("gateway", "Operation")
    Operation.objects.bulk_create(
        [
            Operation(
                correlation_id=request.correlation_id,
                kind="order",
                user_id=request.user_id,
                status_code=request.response_status,
                body=request.response_body,
                settled_at=request.created_at,
            )
            for request in OrderRequest.objects.filter(response_status__isnull=False)
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("gateway", "0004_access_revocation"),
    ]

    operations = [
        migrations.CreateModel(
            name="Operation",
            fields=[
                ("correlation_id", models.UUIDField(primary_key=True, serialize=False)),
                ("kind", models.CharField(max_length=20)),
                ("user_id", models.UUIDField(blank=True, null=True)),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("body", models.JSONField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("settled_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "indexes": [models.Index(fields=["created_at"], name="operation_created_idx")],
            },
        ),
        migrations.RunPython(keep_kept_answers, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="orderrequest",
            name="response_body",
        ),
        migrations.RemoveField(
            model_name="orderrequest",
            name="response_status",
        ),
    ]
