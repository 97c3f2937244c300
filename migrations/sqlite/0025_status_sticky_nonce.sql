-- The nonce of the status channel's next post. It is stored before the post is sent and cleared
-- once the posted message is recorded, so a post whose answer was lost (the process stopped, the
-- connection dropped) is sent again with the same nonce and `enforce_nonce`, and Discord answers
-- with the message made the first time instead of making a second one.
ALTER TABLE status_sticky ADD COLUMN post_nonce TEXT;
