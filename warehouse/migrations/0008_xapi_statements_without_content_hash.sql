-- A Statement sent again under a stored id is compared with the stored one by content only then: the comparison
-- hash is worked out from the JSON of both as stored (lrs/service.py). It used to be worked out for every
-- Statement when it was drafted and kept here, a twelfth of what drafting a Statement cost (bench/README.md,
-- issue 11), for a comparison that only re-sent ids need.
ALTER TABLE {database}.xapi_statements DROP COLUMN IF EXISTS content_hash
