"""E-mail alerts as keepalived sends them: ``rules`` (pure: which event mails what) and
``smtp`` (the asyncio sender: a bounded queue, one connection per alert)."""
