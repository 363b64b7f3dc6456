from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import account_get, ledger_list
from kernel.web.api import MoneyOutputField


class AccountApi(APIView):
    @extend_schema_serializer(component_name="Account")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        user_id = serializers.UUIDField()
        balance = MoneyOutputField()
        created_at = serializers.DateTimeField()
        updated_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        account = account_get(user_id=request.user.id)
        if account is None:
            raise NotFound("The account is not open yet.")
        return Response(self.OutputSerializer(account).data)


class LedgerListApi(ListAPIView):
    @extend_schema_serializer(component_name="LedgerEntry")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        kind = serializers.CharField()
        amount = MoneyOutputField()
        balance_after = MoneyOutputField()
        reference = serializers.UUIDField(allow_null=True)
        created_at = serializers.DateTimeField()

    serializer_class = OutputSerializer

    def get_queryset(self):
        return ledger_list(user_id=self.request.user.id)
