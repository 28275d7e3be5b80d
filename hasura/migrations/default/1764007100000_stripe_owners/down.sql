DROP TABLE IF EXISTS stripe.checkout_request;
DROP VIEW IF EXISTS stripe.organization_member;
