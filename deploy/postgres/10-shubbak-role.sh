#!/bin/sh
# Run once by the postgres image when it makes a new data folder (mounted into /docker-entrypoint-initdb.d by
# compose.yaml), as the image's superuser. Makes the role Shubbak connects as: it logs in and owns the app's
# database (so `shubbak migrate` can make and change the tables), and nothing more: not a superuser, no other
# database, no roles, no replication. docs/operations.md says how to do the same on an existing data folder.
#   POSTGRES_APP_PASSWORD  the role's password (required)
#   POSTGRES_APP_USER      the role's name (shubbak)      POSTGRES_APP_DB  the database's name (shubbak)
set -e
app_password="${POSTGRES_APP_PASSWORD:?set POSTGRES_APP_PASSWORD, the password of the role Shubbak connects as}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     -v app_user="${POSTGRES_APP_USER:-shubbak}" -v app_db="${POSTGRES_APP_DB:-shubbak}" \
     -v app_password="$app_password" <<'SQL'
CREATE ROLE :"app_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user" TEMPLATE template0 ENCODING 'UTF8';
REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
SQL
