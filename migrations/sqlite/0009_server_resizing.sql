-- A resize in progress: set (until a deadline) before the provider is asked, cleared when the
-- new rate is recorded or the provider refused. Two resizes of one server never overlap, so
-- the size on the provider and the rate billed cannot end up from different requests.
ALTER TABLE servers ADD COLUMN resizing_until TEXT;
