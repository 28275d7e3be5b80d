DROP FUNCTION IF EXISTS stripe.session_claims(text, text);
DROP VIEW IF EXISTS stripe.owner_plan;
DROP FUNCTION IF EXISTS stripe.refresh_entitlements(text);
DROP SCHEMA IF EXISTS stripe CASCADE;
