from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView

from notifications.selectors import notification_list


class NotificationListApi(ListAPIView):
    """The user's own emails, newest first."""

    @extend_schema_serializer(component_name="Notification")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        kind = serializers.CharField()
        reference = serializers.UUIDField()
        email = serializers.EmailField()
        subject = serializers.CharField()
        body = serializers.CharField()
        status = serializers.CharField()
        created_at = serializers.DateTimeField()
        sent_at = serializers.DateTimeField(allow_null=True)

    serializer_class = OutputSerializer

    def get_queryset(self):
        return notification_list(user_id=self.request.user.id)
