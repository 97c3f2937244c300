-- A reset email carries a long link token and a short code. Only the short code can be
-- guessed, so only its rows die after the wrong tries; the link of the latest email keeps
-- working whoever guessed at the code.
ALTER TABLE one_time_codes ADD COLUMN capped BOOLEAN NOT NULL DEFAULT TRUE;
