#!/bin/sh
# Run by compose.yaml's one-off `minio-setup` service (the `mc` image), before Shubbak starts: makes the
# documents' bucket and the user Shubbak connects as, allowed to read, write and delete objects in that bucket
# only (shubbak-documents-policy.json), never MinIO's root keys. Safe to run again: the bucket is kept, the
# user's secret and policy are set anew.
#   MINIO_ROOT_USER, MINIO_ROOT_PASSWORD        MinIO's root keys (used here only)
#   MINIO_APP_USER, MINIO_APP_PASSWORD          the keys Shubbak gets
set -e
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${MINIO_APP_USER:?}" "${MINIO_APP_PASSWORD:?}"
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing local/shubbak-documents
mc admin policy create local shubbak-documents /setup/shubbak-documents-policy.json
mc admin user add local "$MINIO_APP_USER" "$MINIO_APP_PASSWORD"
# attach refuses a policy the user already has: only that case is let through
if ! mc admin user info local "$MINIO_APP_USER" | grep -q "shubbak-documents"; then
  mc admin policy attach local shubbak-documents --user "$MINIO_APP_USER"
fi
