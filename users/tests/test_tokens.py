"""Tokens an edge can verify: RS256 signed with a private key, checked with the published JWKS."""

import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError

from gateway_django.settings.base import jwt_keys


@pytest.fixture(scope="module")
def private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def test_hs256_signs_with_the_signing_key_or_else_the_secret_key():
    assert jwt_keys("HS256", secret_key="s" * 40) == {"ALGORITHM": "HS256", "SIGNING_KEY": "s" * 40}
    assert jwt_keys("HS256", secret_key="s" * 40, signing_key="k" * 40)["SIGNING_KEY"] == "k" * 40


def test_rs256_without_a_private_key_refuses_to_start():
    with pytest.raises(ImproperlyConfigured, match="JWT_PRIVATE_KEY"):
        jwt_keys("RS256", secret_key="s" * 40)


def test_rs256_tokens_are_issued_and_verified_with_the_key_pair(private_pem):
    keys = jwt_keys("RS256", secret_key="unused", private_key=private_pem.replace("\n", "\\n"))
    assert keys["SIGNING_KEY"] == private_pem  # a one-line value from a .env file is read back
    claims = {"user_id": str(uuid.uuid4()), "token_type": "access", "iss": "http://arch.homework"}
    token = TokenBackend("RS256", keys["SIGNING_KEY"]).encode(claims)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    verifier = TokenBackend("RS256", "", keys["VERIFYING_KEY"], issuer="http://arch.homework")
    assert verifier.decode(token)["user_id"] == claims["user_id"]
    another_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenBackendError):
        verifier.decode(jwt.encode(claims, another_key, algorithm="RS256"))


def test_the_jwks_verifies_the_tokens_and_holds_no_private_part(private_pem, settings):
    keys = jwt_keys("RS256", secret_key="unused", private_key=private_pem)
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, **keys}
    response = APIClient().get("/.well-known/jwks.json")
    assert response.status_code == 200
    (jwk,) = response.json()["keys"]
    assert {jwk["kty"], jwk["alg"], jwk["use"]} == {"RSA", "RS256", "sig"}
    assert jwk["kid"] and not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    token = TokenBackend("RS256", keys["SIGNING_KEY"]).encode({"user_id": "u"})
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"]) == {"user_id": "u"}


def test_a_shared_secret_is_never_published(settings):
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"
    assert APIClient().get("/.well-known/jwks.json").json() == {"keys": []}
