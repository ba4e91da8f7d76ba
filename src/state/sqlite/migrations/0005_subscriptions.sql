-- Subscribers who signed up themselves (`postbode serve`), and subscribers of
-- a feed definition who unsubscribed through a link. Only what a subscription
-- needs is kept (privacy by design): the address or webhook URL, the choices,
-- the times of request and confirmation, and the time of the last mail sent
-- to it (the per-address limit on confirmation mails).
CREATE TABLE subscriptions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    blog         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    target       TEXT NOT NULL,
    -- The target compared: an address in lower case; a URL as given.
    target_key   TEXT NOT NULL,
    -- Webhooks: format, signing secret, label.
    format       TEXT,
    secret       TEXT,
    label        TEXT,
    tags         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    authors      TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(authors)),
    digest       TEXT NOT NULL DEFAULT 'none',
    language     TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    confirmed_at TEXT,
    -- NULL once confirmed: a confirmation link works once.
    confirm_key  INTEGER,
    -- In every manage and unsubscribe link; a new key revokes them.
    manage_key   INTEGER NOT NULL,
    mailed_at    TEXT
);
CREATE UNIQUE INDEX subscriptions_by_target ON subscriptions (blog, kind, target_key);

CREATE TABLE opt_outs (
    blog       TEXT NOT NULL,
    subscriber TEXT NOT NULL,
    at         TEXT NOT NULL,
    PRIMARY KEY (blog, subscriber)
);
