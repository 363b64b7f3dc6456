"""Every route of the API. Commands go to the gateway; reads to the domain that owns the data.

The probes, /healthz and /readyz, are answered before routing (gateway_django.health)."""

from uuid import UUID

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from billing.apis import AccountApi, LedgerListApi
from contracts.views import AsyncApiView
from gateway.apis import (
    DepositApi,
    OperationApi,
    OrderCancelApi,
    OrderCreateApi,
    RegisterApi,
    RegistrationStatusApi,
    order_accepted,
)
from kernel.web.api import DocsAccess
from notifications.apis import NotificationListApi
from orders.apis import OrderDetailApi as OrderReadApi
from orders.apis import OrderDetailSerializer, OrderListApi
from users.apis import JwksApi, LoginApi, LoginIpThrottle, LoginUserThrottle, MeApi, TokenRefreshApi


class TransactionApi(DepositApi, LedgerListApi):
    """GET: the caller's ledger, read by billing. POST: a deposit, sent through the gateway."""


class OrderApi(OrderCreateApi, OrderListApi):
    """GET: the caller's orders, read by orders. POST: a new order, sent through the gateway."""


class OrderDetailApi(OrderReadApi):
    """GET: one of the caller's orders, read by orders; one the gateway has accepted and orders
    has not placed yet is shown pending, from the gateway's own record."""

    @extend_schema(responses=OrderDetailSerializer)
    def get(self, request: Request, order_id: UUID) -> Response:
        try:
            return super().get(request, order_id)
        except NotFound:
            return order_accepted(request, order_id)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login, counted against the same budgets as the API's (per address and per
    username), so a password cannot be guessed at here instead."""
    if request.method == "POST":
        for throttle in (LoginIpThrottle(), LoginUserThrottle()):
            if not throttle.allow_request(request, None):
                wait = max(1, round(throttle.wait() or 1))
                response = HttpResponse(
                    f"Too many login attempts; try again in {wait} seconds.\n",
                    status=429,
                    content_type="text/plain",
                )
                response["Retry-After"] = str(wait)
                return response
    return admin.site.login(request)


@require_safe
def index(request: HttpRequest) -> JsonResponse:
    """What answers here, and where its API is described."""
    return JsonResponse(
        {
            "service": "order-platform",
            "description": "The order platform's API: register, log in, deposit, order; "
            "users, billing, orders and notifications answer through events.",
            "docs": request.build_absolute_uri(reverse("docs")),
            "redoc": request.build_absolute_uri(reverse("redoc")),
            "schema": request.build_absolute_uri(reverse("schema")),
            "health": {"liveness": "/healthz", "readiness": "/readyz"},
        }
    )


DOCS = {"authentication_classes": [SessionAuthentication], "permission_classes": [DocsAccess]}

urlpatterns = [
    path("", index, name="index"),
    path("register/", RegisterApi.as_view(), name="register"),
    path("register/<uuid:operation_id>/", RegistrationStatusApi.as_view(), name="register-status"),
    path("login/", LoginApi.as_view(), name="login"),
    path("token/refresh/", TokenRefreshApi.as_view(), name="token-refresh"),
    path("me/", MeApi.as_view(), name="me"),
    path("account/", AccountApi.as_view(), name="account"),
    path("transaction/", TransactionApi.as_view(), name="transaction"),
    path("order/", OrderApi.as_view(), name="order-list"),
    path("order/<uuid:order_id>/", OrderDetailApi.as_view(), name="order-detail"),
    path("order/<uuid:order_id>/cancel/", OrderCancelApi.as_view(), name="order-cancel"),
    path("notification/", NotificationListApi.as_view(), name="notification-list"),
    path("operation/<uuid:operation_id>/", OperationApi.as_view(), name="operation-detail"),
    path(".well-known/jwks.json", JwksApi.as_view(), name="jwks"),
    path("api/schema/", SpectacularAPIView.as_view(**DOCS), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **DOCS), name="docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="docs/redoc.html", **DOCS),
        name="redoc",
    ),
    path("api/asyncapi/", AsyncApiView.as_view(**DOCS), name="asyncapi"),
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
]

handler400 = "kernel.web.errors.json_bad_request"
handler404 = "kernel.web.errors.json_not_found"
handler500 = "kernel.web.errors.json_server_error"
