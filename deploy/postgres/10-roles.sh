#!/bin/sh
# First start of the database container (docker-entrypoint-initdb.d): the two roles of
# docs/AUDIT.md. reviewsvc_owner owns the database and its schema and runs the migrations;
# reviewsvc_app, which web and worker use, owns nothing, so it can neither drop nor switch off
# the access log's append-only triggers. Passwords come from the mounted secrets.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner_password="$(cat /run/secrets/db_owner_password)" \
    -v app_password="$(cat /run/secrets/db_app_password)" \
    -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE reviewsvc_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
CREATE ROLE reviewsvc_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO reviewsvc_owner;
ALTER SCHEMA public OWNER TO reviewsvc_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO reviewsvc_app;
GRANT USAGE ON SCHEMA public TO reviewsvc_app;
-- Tables and sequences the owner's migrations create are reachable by the app at once;
-- grant_app_role, run after every migrate, then takes UPDATE and DELETE on the log away again.
ALTER DEFAULT PRIVILEGES FOR ROLE reviewsvc_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO reviewsvc_app;
ALTER DEFAULT PRIVILEGES FOR ROLE reviewsvc_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO reviewsvc_app;
SQL
