-- The state database for the pipelines in this directory: run once, as an administrator, in the
-- database that holds the state, e.g.
--
--   psql "host=db.example.com dbname=infra user=admin sslmode=verify-full" \
--        -v apply_password="$(openssl rand -hex 24)" -v plan_password="$(openssl rand -hex 24)" \
--        -f examples/ci/state-database.sql
--
-- Two login roles, least privilege (see docs/gitops.md):
--   pai_apply  owns the state's schema: takes the lock, creates and writes the state (apply jobs).
--   pai_plan   reads it: plan jobs of merge requests, which must never write.
-- Neither needs any right outside the schema; advisory locks need no privilege.

\set ON_ERROR_STOP on

CREATE ROLE pai_apply LOGIN PASSWORD :'apply_password';
CREATE ROLE pai_plan LOGIN PASSWORD :'plan_password';

CREATE SCHEMA pai_provision AUTHORIZATION pai_apply;
GRANT USAGE ON SCHEMA pai_provision TO pai_plan;
-- The state's tables are created later, by pai_apply's first write: let pai_plan read them.
ALTER DEFAULT PRIVILEGES FOR ROLE pai_apply IN SCHEMA pai_provision GRANT SELECT ON TABLES TO pai_plan;
