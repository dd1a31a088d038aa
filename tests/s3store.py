"""A real S3-compatible object store for the shared-backend tests: moto's server mode over HTTP on 127.0.0.1.

Pulumi's DIY backend reaches it exactly as a team's runners reach their bucket:
`s3://<bucket>?endpoint=127.0.0.1:<port>&s3ForcePathStyle=true&disableSSL=true` with AWS credentials in the
environment (moto accepts any).
"""
from __future__ import annotations

import uuid
from typing import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "acs-test", "AWS_SECRET_ACCESS_KEY": "acs-test-secret",
               "AWS_REGION": "us-east-1", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}


class S3Store:
    def __init__(self, port: int, bucket: str) -> None:
        self.port, self.bucket = port, bucket
        self.client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                   aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        self.client.create_bucket(Bucket=bucket)

    @property
    def backend_url(self) -> str:
        return f"s3://{self.bucket}?endpoint=127.0.0.1:{self.port}&s3ForcePathStyle=true&disableSSL=true"

    def env(self) -> dict[str, str]:
        return {**CREDENTIALS, "PULUMI_BACKEND_URL": self.backend_url}

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[int]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server.get_host_and_port()[1]
    server.stop()


@pytest.fixture
def s3(s3_server: int) -> S3Store:
    """A fresh bucket per test on the session's S3 server."""
    return S3Store(s3_server, f"acs-state-{uuid.uuid4().hex[:12]}")
