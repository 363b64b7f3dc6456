from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    name = "kernel.telemetry"
    verbose_name = "Telemetry"

    def ready(self) -> None:
        # Before the first request is handled (its middleware is left out when tracing is off)
        # and before the first Redis client is made (the Redis instrumentation wraps its methods).
        from kernel.telemetry import deliveries, tracing

        tracing.setup()
        deliveries.connect()
