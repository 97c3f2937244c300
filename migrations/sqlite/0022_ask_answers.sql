-- The assistant's answers as the doors gave them: the question, the answer and its sources, the
-- earlier exchanges of its conversation (so a follow-up continues it server-side, never from a
-- button's id), the asker it belongs to, the feedback given on it and the ticket it became.
CREATE TABLE ask_answers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at     TEXT NOT NULL,
    user_id      INTEGER REFERENCES users (id),
    asker        TEXT NOT NULL,
    question     TEXT NOT NULL,
    answer       TEXT NOT NULL,
    sources      TEXT NOT NULL,
    conversation TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    feedback     TEXT,
    ticket_id    INTEGER REFERENCES tickets (id)
);

CREATE INDEX ask_answers_by_time ON ask_answers (asked_at);
