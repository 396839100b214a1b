#!/usr/bin/env python3
"""A tiny S3 client for the lake tests (boto3, which comes with moto).

Usage: python3 tests/lake/s3.py ENDPOINT COMMAND ARGS
  mkbucket BUCKET              create the bucket (no error if it exists)
  put-tree BUCKET PREFIX DIR   upload every file below DIR as PREFIX/<relative path>
  list BUCKET PREFIX           print every key below PREFIX, one per line, sorted
  get-tree BUCKET PREFIX DIR   download every object below PREFIX into DIR/<key>
  etag BUCKET KEY              print the object's ETag (a multipart upload's ends "-<parts>")
Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default "test"); region us-east-1.
"""

import os
import sys

import boto3


def main():
    endpoint, cmd, *args = sys.argv[1:]
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))

    def keys(bucket, prefix):
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    if cmd == "mkbucket":
        try:
            s3.create_bucket(Bucket=args[0])
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    elif cmd == "put-tree":
        bucket, prefix, root = args
        for d, _, files in os.walk(root):
            for f in sorted(files):
                p = os.path.join(d, f)
                s3.upload_file(p, bucket, f"{prefix}/{os.path.relpath(p, root)}".lstrip("/"))
    elif cmd == "list":
        print("\n".join(keys(args[0], args[1])))
    elif cmd == "get-tree":
        bucket, prefix, root = args
        for k in keys(bucket, prefix):
            dest = os.path.join(root, k)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            s3.download_file(bucket, k, dest)
    elif cmd == "etag":
        print(s3.head_object(Bucket=args[0], Key=args[1])["ETag"].strip('"'))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
