from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel.web.api import MoneyOutputField
from orders.selectors import order_get, order_list


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    reason = serializers.CharField()
    price = MoneyOutputField()
    description = serializers.CharField()
    refunded = MoneyOutputField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StepSerializer(serializers.Serializer):
    event = serializers.CharField(source="event_type")
    domain = serializers.CharField()
    at = serializers.DateTimeField(source="occurred_at")


class OrderDetailSerializer(OrderSerializer):
    timeline = StepSerializer(many=True, source="steps")


class OrderListApi(ListAPIView):
    """The caller's orders, newest first."""

    serializer_class = OrderSerializer

    def get_queryset(self):
        return order_list(user_id=self.request.user.id)


class OrderDetailApi(APIView):
    """One of the caller's orders with its saga timeline; another user's order does not exist."""

    @extend_schema(responses=OrderDetailSerializer)
    def get(self, request: Request, order_id: str) -> Response:
        order = order_get(user_id=request.user.id, order_id=order_id)
        if order is None:
            raise NotFound("No such order.")
        return Response(OrderDetailSerializer(order).data)
